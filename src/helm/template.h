// A Go text/template engine with Go's semantics, for rendering Helm charts.
//
// Data is boost::json (maps, lists, strings, int64/uint64/double, bool, null), as Helm's values are
// JSON-like after YAML decoding. Templates are parsed once into a TemplateSet (every `define` goes
// into the same set, as Go's associated templates do) and executed many times. Execution is bounded:
// nested template/include calls, output size and loop iterations have limits, so a hostile chart
// yields an error, never a hang or a crash.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace skiff::helm {

using Value = boost::json::value;

class Executor;
// A function callable from a template (`{{ upper .x }}`). Arguments arrive evaluated; the piped
// value, if any, is the last one, as in Go.
using Function = std::function<Result<Value>(Executor&, std::vector<Value>& args)>;
using FunctionMap = std::map<std::string, Function, std::less<>>;

struct Node;  // parse tree, private to template.cpp

struct Limits {
  // Nested template/include/tpl calls. Helm stops at 1000 on Go's growable stacks; here each call
  // is C++ frames on a fixed thread stack (several times larger under the sanitizers, where 1000
  // overflowed 8 MiB), so 100 — far more nesting than charts use.
  int maxCallDepth = 100;
  size_t maxOutputBytes = 64u << 20;       // per execute()
  uint64_t maxLoopIterations = 10'000'000;  // all range iterations of one execute()
};

class TemplateSet {
 public:
  TemplateSet();
  ~TemplateSet();
  TemplateSet(TemplateSet&&) noexcept;
  TemplateSet& operator=(TemplateSet&&) noexcept;

  // Parses `text` as template `name`; its `define`s join the set (a later definition replaces an
  // earlier one, as Go's AddParseTree does). Errors read as Go's: "template: NAME:LINE: ...".
  Status parse(const std::string& name, std::string_view text);
  bool has(std::string_view name) const;
  std::vector<std::string> names() const;

  // Functions beyond Go's builtins (sprig, Helm's include/tpl/...); set before parse, since
  // parsing rejects unknown function names as Go does.
  void addFunctions(const FunctionMap& functions);
  const FunctionMap& functions() const { return functions_; }
  Limits& limits() { return limits_; }

  // Go's missingkey option: false → a missing map key yields no value ("<no value>" when
  // printed, Helm then blanks it); true → an error ("map has no entry for key").
  void setMissingKeyError(bool error) { missingKeyError_ = error; }

  Result<std::string> execute(const std::string& name, const Value& data) const;

 private:
  friend class Executor;
  friend struct ExecState;
  std::map<std::string, std::shared_ptr<Node>, std::less<>> templates_;
  std::map<std::string, std::string, std::less<>> sources_;  // template name → file it was parsed from
  FunctionMap functions_;
  Limits limits_;
  bool missingKeyError_ = false;
};

// Go's fmt %v of a value (maps as map[k:v ...], lists as [a b], floats as %g shortest).
std::string formatValue(const Value& v);
// Go's text/template truth: false, 0, nil, and empty strings, lists and maps are false.
bool isTrue(const Value& v);
// fmt.Sprintf for the verbs charts use (%s %d %v %q %t %f %x %X %o %e %g %c %%, flags, widths).
std::string goSprintf(std::string_view format, const std::vector<Value>& args);

// Handed to functions: lets include/tpl run other templates within the same execution limits.
class Executor {
 public:
  Executor(const TemplateSet& set, std::string& out);
  Result<std::string> runTemplate(const std::string& name, const Value& data);
  // Parses and runs `text` with the set's templates visible (Helm's tpl).
  Result<std::string> runText(std::string_view text, const Value& data);
  int depth() const { return depth_; }
  const TemplateSet& set() const { return *set_; }

 private:
  friend struct ExecState;
  const TemplateSet* set_;
  std::string* out_;
  int depth_ = 0;
  uint64_t iterations_ = 0;
  std::vector<std::unique_ptr<TemplateSet>> scratch_;  // sets made by tpl, alive for this run
};

}  // namespace skiff::helm
