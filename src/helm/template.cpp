#include "helm/template.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include <boost/json.hpp>

namespace skiff::helm {
namespace json = boost::json;

// ---------------------------------------------------------------------------------------------
// Parse tree

enum class Kind { List, Text, Action, If, Range, With, Template, Break, Continue };
enum class ArgKind { Field, Variable, Dot, Nil, Bool, Number, String, Identifier, Pipe };

struct Pipeline;
struct Arg {
  ArgKind kind;
  size_t pos = 0;
  std::string name;                 // identifier / variable name ($x) / string value
  std::vector<std::string> fields;  // .A.B after a field, variable or parenthesized pipe
  Value literal;                    // number / bool
  std::shared_ptr<Pipeline> pipe;   // ArgKind::Pipe
  std::string text;                 // source, for error context
};
struct Command {
  size_t pos = 0;
  std::vector<Arg> args;
};
struct Pipeline {
  size_t pos = 0;
  std::vector<std::string> decl;  // variables declared or assigned
  bool assign = false;            // `=` rather than `:=`
  std::vector<Command> cmds;
  std::string text;
};
struct Node {
  Kind kind = Kind::List;
  size_t pos = 0;
  std::string text;                    // Text, or Template's name
  std::shared_ptr<Pipeline> pipe;      // Action/If/Range/With/Template
  std::vector<std::shared_ptr<Node>> list, elseList;
  std::string file;  // the file (parse name) the node came from, for error locations
  std::shared_ptr<std::string> source;  // that file's text, for line:col
};

namespace {

const std::set<std::string_view>& builtinNames() {
  static const std::set<std::string_view> names = {
      "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
      "urlquery", "eq", "ne", "lt", "le", "gt", "ge", "call"};
  return names;
}

std::pair<int, int> lineCol(const std::string& src, size_t pos) {
  pos = std::min(pos, src.size());
  int line = 1 + int(std::count(src.begin(), src.begin() + long(pos), '\n'));
  size_t nl = src.rfind('\n', pos == 0 ? 0 : pos - 1);
  int col = (nl == std::string::npos || pos == 0) ? int(pos) : int(pos - nl - 1);
  if (nl != std::string::npos && pos > 0 && nl >= pos) col = int(pos);
  return {line, col};
}

// ---------------------------------------------------------------------------------------------
// Lexer: one action's tokens

enum class Tok { Space, Pipe, LParen, RParen, Comma, Declare, Assign, String, Number, Char, Field,
                 Variable, Ident, Dot, End };
struct Token {
  Tok t;
  std::string s;
  size_t pos;
};

struct ParseError {
  size_t pos;
  std::string msg;
};

class Parser {
 public:
  Parser(std::string name, std::string_view text, const TemplateSet& set)
      : name_(std::move(name)), src_(std::make_shared<std::string>(text)), set_(set) {}

  // Parses the whole text; definitions found are returned in `defines`.
  Result<std::shared_ptr<Node>> run(std::map<std::string, std::shared_ptr<Node>>& defines) {
    defines_ = &defines;
    try {
      auto root = node(Kind::List, 0);
      std::string stop = parseList(*root, {});
      if (!stop.empty()) throw ParseError{lastPos_, "unexpected {{" + stop + "}}"};
      return root;
    } catch (const ParseError& e) {
      auto [line, col] = lineCol(*src_, e.pos);
      (void)col;
      return Error::invalid("template: " + name_ + ":" + std::to_string(line) + ": " + e.msg);
    }
  }

 private:
  std::shared_ptr<Node> node(Kind k, size_t pos) {
    auto n = std::make_shared<Node>();
    n->kind = k;
    n->pos = pos;
    n->file = name_;
    n->source = src_;
    return n;
  }

  // Reads text and actions into `list` until a control keyword in `stops` (else, end); returns the
  // keyword that stopped it ("" at end of input). For "else", tokens_ holds the rest of the action.
  std::string parseList(Node& list, const std::vector<std::string>& stops) {
    const std::string& s = *src_;
    while (at_ < s.size()) {
      size_t open = s.find("{{", at_);
      std::string text = s.substr(at_, open == std::string::npos ? std::string::npos : open - at_);
      if (open == std::string::npos) {
        at_ = s.size();
        addText(list, text, at_);
        break;
      }
      size_t p = open + 2;
      bool trimLeft = p + 1 < s.size() && s[p] == '-' && isSpace(s[p + 1]);
      if (trimLeft) {
        p += 2;
        while (!text.empty() && isSpace(text.back())) text.pop_back();
      }
      addText(list, text, at_);
      // Comment: {{/* ... */}} possibly with trims.
      size_t q = p;
      while (trimLeft && q < s.size() && isSpace(s[q])) q++;
      if (s.compare(q, 2, "/*") == 0) {
        size_t endc = s.find("*/", q + 2);
        if (endc == std::string::npos) throw ParseError{open, "unclosed comment"};
        size_t after = endc + 2;
        bool trimRight = false;
        size_t r = after;
        if (s.compare(after, 4, " -}}") == 0) { trimRight = true; r = after + 4; }
        else if (s.compare(after, 2, "}}") == 0) r = after + 2;
        else throw ParseError{open, "comment ends before closing delimiter"};
        at_ = r;
        if (trimRight) skipSpace();
        continue;
      }
      bool trimRight = false;
      tokens_ = lexAction(p, trimRight);
      ti_ = 0;
      lastPos_ = open;
      if (trimRight) skipSpace();
      // Keywords
      const Token& first = tokens_[0];
      if (first.t == Tok::Ident) {
        const std::string& kw = first.s;
        if (kw == "end" || kw == "else") {
          if (std::find(stops.begin(), stops.end(), kw) == stops.end())
            throw ParseError{first.pos, "unexpected {{" + kw + "}}"};
          ti_ = 1;
          if (kw == "end") expectEnd("end");
          return kw;
        }
        if (kw == "if" || kw == "range" || kw == "with") { ti_ = 1; list.list.push_back(control(kw, first.pos)); continue; }
        if (kw == "define" || kw == "block") { ti_ = 1; list.list.push_back(define(kw == "block", first.pos)); continue; }
        if (kw == "template") { ti_ = 1; list.list.push_back(templateCall(first.pos)); continue; }
        if (kw == "break" || kw == "continue") {
          if (rangeDepth_ == 0) throw ParseError{first.pos, "{{" + kw + "}} outside {{range}}"};
          ti_ = 1;
          expectEnd(kw);
          list.list.push_back(node(kw == "break" ? Kind::Break : Kind::Continue, first.pos));
          continue;
        }
      }
      auto a = node(Kind::Action, first.pos);
      a->pipe = pipeline("command", true);
      list.list.push_back(a);
    }
    if (!stops.empty()) throw ParseError{s.size(), "unexpected EOF"};
    return "";
  }

  void addText(Node& list, const std::string& text, size_t pos) {
    if (text.empty()) return;
    auto t = node(Kind::Text, pos);
    t->text = text;
    list.list.push_back(t);
  }
  static bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
  void skipSpace() {
    while (at_ < src_->size() && isSpace((*src_)[at_])) at_++;
  }

  std::vector<Token> lexAction(size_t p, bool& trimRight) {
    const std::string& s = *src_;
    std::vector<Token> out;
    while (true) {
      if (p >= s.size()) throw ParseError{p, "unclosed action"};
      char c = s[p];
      if (isSpace(c)) {
        size_t q = p;
        while (q < s.size() && isSpace(s[q])) q++;
        if (s.compare(q, 3, "-}}") == 0) { trimRight = true; at_ = q + 3; break; }
        out.push_back({Tok::Space, "", p});
        p = q;
        continue;
      }
      if (s.compare(p, 2, "}}") == 0) { at_ = p + 2; break; }
      if (c == '|') { out.push_back({Tok::Pipe, "|", p++}); continue; }
      if (c == '(') { out.push_back({Tok::LParen, "(", p++}); continue; }
      if (c == ')') { out.push_back({Tok::RParen, ")", p++}); continue; }
      if (c == ',') { out.push_back({Tok::Comma, ",", p++}); continue; }
      if (c == ':' && p + 1 < s.size() && s[p + 1] == '=') { out.push_back({Tok::Declare, ":=", p}); p += 2; continue; }
      if (c == '=') { out.push_back({Tok::Assign, "=", p++}); continue; }
      if (c == '"') { out.push_back({Tok::String, quoted(p), p}); continue; }
      if (c == '`') {
        size_t e = s.find('`', p + 1);
        if (e == std::string::npos) throw ParseError{p, "unterminated raw quoted string"};
        out.push_back({Tok::String, s.substr(p + 1, e - p - 1), p});
        p = e + 1;
        continue;
      }
      if (c == '\'') {
        size_t start = p++;
        std::string v;
        if (p < s.size() && s[p] == '\\') { v = unescapeOne(p); } else if (p < s.size()) { v = s[p++]; }
        if (p >= s.size() || s[p] != '\'') throw ParseError{start, "unterminated character constant"};
        p++;
        out.push_back({Tok::Char, v, start});
        continue;
      }
      if (std::isdigit((unsigned char)c) || ((c == '-' || c == '+') && p + 1 < s.size() && (std::isdigit((unsigned char)s[p + 1]) || s[p + 1] == '.'))) {
        size_t q = p + 1;
        while (q < s.size() && (std::isalnum((unsigned char)s[q]) || s[q] == '.' || s[q] == '_' ||
                                ((s[q] == '-' || s[q] == '+') && (s[q - 1] == 'e' || s[q - 1] == 'E'))))
          q++;
        out.push_back({Tok::Number, s.substr(p, q - p), p});
        p = q;
        continue;
      }
      if (c == '.' || c == '$') {
        size_t q = p + 1;
        while (q < s.size() && (std::isalnum((unsigned char)s[q]) || s[q] == '_')) q++;
        if (c == '.' && q == p + 1) { out.push_back({Tok::Dot, ".", p}); p = q; continue; }
        out.push_back({c == '.' ? Tok::Field : Tok::Variable, s.substr(p, q - p), p});
        p = q;
        continue;
      }
      if (std::isalpha((unsigned char)c) || c == '_') {
        size_t q = p;
        while (q < s.size() && (std::isalnum((unsigned char)s[q]) || s[q] == '_')) q++;
        out.push_back({Tok::Ident, s.substr(p, q - p), p});
        p = q;
        continue;
      }
      throw ParseError{p, std::string("unexpected \"") + c + "\" in command"};
    }
    // Drop spaces at both ends; keep inner ones (they separate arguments).
    while (!out.empty() && out.back().t == Tok::Space) out.pop_back();
    size_t lead = 0;
    while (lead < out.size() && out[lead].t == Tok::Space) lead++;
    out.erase(out.begin(), out.begin() + long(lead));
    if (out.empty()) throw ParseError{p, "missing value for command"};
    out.push_back({Tok::End, "", at_});
    return out;
  }

  static bool isHex(const std::string& h) {
    return !h.empty() && h.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  }

  std::string unescapeOne(size_t& p) {
    const std::string& s = *src_;
    char e = s[++p];
    p++;
    switch (e) {
      case 'n': return "\n";
      case 't': return "\t";
      case 'r': return "\r";
      case '\\': return "\\";
      case '"': return "\"";
      case '\'': return "'";
      case '0': return std::string(1, '\0');
      case 'a': return "\a";
      case 'b': return "\b";
      case 'f': return "\f";
      case 'v': return "\v";
      case 'x': {
        if (p + 2 > s.size() || !isHex(s.substr(p, 2))) throw ParseError{p, "invalid syntax in \\x escape"};
        int v = std::stoi(s.substr(p, 2), nullptr, 16);
        p += 2;
        return std::string(1, char(v));
      }
      case 'u': case 'U': {
        size_t n = e == 'u' ? 4 : 8;
        if (p + n > s.size() || !isHex(s.substr(p, n))) throw ParseError{p, "invalid syntax in \\u escape"};
        unsigned long cp = std::stoul(s.substr(p, n), nullptr, 16);
        if (cp > 0x10FFFF) throw ParseError{p, "escape is not a valid code point"};
        p += n;
        std::string o;
        if (cp < 0x80) o += char(cp);
        else if (cp < 0x800) { o += char(0xC0 | (cp >> 6)); o += char(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) { o += char(0xE0 | (cp >> 12)); o += char(0x80 | ((cp >> 6) & 0x3F)); o += char(0x80 | (cp & 0x3F)); }
        else { o += char(0xF0 | (cp >> 18)); o += char(0x80 | ((cp >> 12) & 0x3F)); o += char(0x80 | ((cp >> 6) & 0x3F)); o += char(0x80 | (cp & 0x3F)); }
        return o;
      }
      default: throw ParseError{p, std::string("unknown escape sequence: \\") + e};
    }
  }

  std::string quoted(size_t& p) {
    const std::string& s = *src_;
    size_t start = p++;
    std::string v;
    while (true) {
      if (p >= s.size() || s[p] == '\n') throw ParseError{start, "unterminated quoted string"};
      if (s[p] == '"') { p++; return v; }
      if (s[p] == '\\') { v += unescapeOne(p); continue; }
      v += s[p++];
    }
  }

  // --- token stream of the current action
  const Token& peek() { return tokens_[ti_]; }
  const Token& peekNonSpace() {
    size_t i = ti_;
    while (tokens_[i].t == Tok::Space) i++;
    return tokens_[i];
  }
  Token next() { return tokens_[ti_ < tokens_.size() - 1 ? ti_++ : ti_]; }
  Token nextNonSpace() {
    while (peek().t == Tok::Space) ti_++;
    return next();
  }
  void expectEnd(const std::string& ctx) {
    if (nextNonSpace().t != Tok::End) throw ParseError{lastPos_, "unexpected token in " + ctx};
  }

  std::shared_ptr<Node> control(const std::string& kw, size_t pos) {
    Kind k = kw == "if" ? Kind::If : kw == "range" ? Kind::Range : Kind::With;
    auto n = node(k, pos);
    n->pipe = pipeline(kw, false, k == Kind::Range);
    if (k == Kind::Range) rangeDepth_++;
    auto body = node(Kind::List, pos);
    std::string stop = parseList(*body, {"else", "end"});
    if (k == Kind::Range) rangeDepth_--;
    n->list = std::move(body->list);
    if (stop == "else") {
      auto elseList = node(Kind::List, pos);
      const Token& t = peekNonSpace();
      if (t.t == Tok::Ident && (t.s == "if" || t.s == "with") && k != Kind::Range) {
        // {{else if ...}} / {{else with ...}}: a nested control that shares our {{end}}.
        nextNonSpace();
        elseList->list.push_back(control(t.s, t.pos));
        n->elseList = std::move(elseList->list);
        return n;
      }
      expectEnd("else");
      stop = parseList(*elseList, {"end"});
      n->elseList = std::move(elseList->list);
    }
    return n;
  }

  std::shared_ptr<Node> define(bool isBlock, size_t pos) {
    Token nameTok = nextNonSpace();
    if (nameTok.t != Tok::String) throw ParseError{pos, std::string(isBlock ? "block" : "define") + " clause: expected string"};
    std::shared_ptr<Pipeline> pipe;
    if (isBlock) pipe = pipeline("block", false);
    else expectEnd("define clause");
    auto body = node(Kind::List, pos);
    int savedRange = rangeDepth_;
    rangeDepth_ = 0;
    std::vector<Token> savedTokens = tokens_;
    parseList(*body, {"end"});
    rangeDepth_ = savedRange;
    (void)savedTokens;
    (*defines_)[nameTok.s] = body;
    if (!isBlock) return node(Kind::List, pos);  // nothing rendered where a define stands
    auto call = node(Kind::Template, pos);
    call->text = nameTok.s;
    call->pipe = pipe;
    return call;
  }

  std::shared_ptr<Node> templateCall(size_t pos) {
    Token nameTok = nextNonSpace();
    if (nameTok.t != Tok::String) throw ParseError{pos, "template clause: expected string"};
    auto n = node(Kind::Template, pos);
    n->text = nameTok.s;
    if (peekNonSpace().t != Tok::End) n->pipe = pipeline("template", false);
    else nextNonSpace();
    return n;
  }

  // pipeline: [decl] command { '|' command }
  std::shared_ptr<Pipeline> pipeline(const std::string& ctx, bool allowAssign, bool rangeDecl = false) {
    auto p = std::make_shared<Pipeline>();
    p->pos = peekNonSpace().pos;
    size_t startTok = ti_;
    // Declarations: $x := / $x = / $i, $v :=
    size_t save = ti_;
    Token t = nextNonSpace();
    if (t.t == Tok::Variable) {
      Token op = nextNonSpace();
      if (op.t == Tok::Declare || (op.t == Tok::Assign)) {
        p->decl.push_back(t.s);
        p->assign = op.t == Tok::Assign;
      } else if (op.t == Tok::Comma && rangeDecl) {
        Token v2 = nextNonSpace();
        Token op2 = nextNonSpace();
        if (v2.t != Tok::Variable || (op2.t != Tok::Declare && op2.t != Tok::Assign))
          throw ParseError{t.pos, "range can only initialize variables"};
        p->decl = {t.s, v2.s};
        p->assign = op2.t == Tok::Assign;
      } else {
        ti_ = save;
      }
    } else {
      ti_ = save;
    }
    (void)allowAssign;
    if (peekNonSpace().t == Tok::End || peekNonSpace().t == Tok::RParen) throw ParseError{p->pos, "missing value for " + ctx};
    while (true) {
      Command c = command();
      p->cmds.push_back(std::move(c));
      Token sep = nextNonSpace();
      if (sep.t == Tok::Pipe) continue;
      if (sep.t == Tok::End || sep.t == Tok::RParen) {
        if (sep.t == Tok::RParen) ti_--;
        break;
      }
      throw ParseError{sep.pos, "unexpected \"" + sep.s + "\" in " + ctx};
    }
    if (p->cmds.empty()) throw ParseError{p->pos, "missing value for " + ctx};
    // Source text for error context.
    size_t endPos = tokens_[std::min(ti_, tokens_.size() - 1)].pos;
    size_t beginPos = tokens_[startTok].pos;
    if (endPos > beginPos) p->text = src_->substr(beginPos, endPos - beginPos);
    for (size_t i = 0; i + 1 < p->cmds.size(); i++)
      (void)i;
    return p;
  }

  Command command() {
    Command c;
    c.pos = peekNonSpace().pos;
    while (true) {
      while (peek().t == Tok::Space) ti_++;
      const Token& t = peek();
      if (t.t == Tok::Pipe || t.t == Tok::End || t.t == Tok::RParen) break;
      c.args.push_back(operand());
    }
    if (c.args.empty()) throw ParseError{c.pos, "missing value for command"};
    // Go: only a function or method may take arguments; a literal followed by others is an error.
    const Arg& a0 = c.args[0];
    if (c.args.size() > 1 && a0.kind != ArgKind::Identifier && a0.kind != ArgKind::Field &&
        a0.kind != ArgKind::Variable && !(a0.kind == ArgKind::Pipe && !a0.fields.empty()))
      throw ParseError{a0.pos, "can't give argument to non-function " + a0.text};
    return c;
  }

  Arg operand() {
    Token t = next();
    Arg a;
    a.pos = t.pos;
    a.text = t.s;
    switch (t.t) {
      case Tok::Field: a.kind = ArgKind::Field; splitFields(t.s, a.fields); break;
      case Tok::Variable: {
        a.kind = ArgKind::Variable;
        size_t dot = t.s.find('.');
        a.name = t.s.substr(0, dot);
        break;
      }
      case Tok::Dot: a.kind = ArgKind::Dot; break;
      case Tok::String: a.kind = ArgKind::String; a.name = t.s; a.text = "\"" + t.s + "\""; break;
      case Tok::Char: a.kind = ArgKind::Number; a.literal = int64_t((unsigned char)(t.s.empty() ? 0 : t.s[0])); break;
      case Tok::Number: a.kind = ArgKind::Number; a.literal = number(t); break;
      case Tok::Ident:
        if (t.s == "true" || t.s == "false") { a.kind = ArgKind::Bool; a.literal = t.s == "true"; }
        else if (t.s == "nil") a.kind = ArgKind::Nil;
        else {
          if (!builtinNames().count(t.s) && !set_.functions().count(t.s))
            throw ParseError{t.pos, "function \"" + t.s + "\" not defined"};
          a.kind = ArgKind::Identifier;
          a.name = t.s;
        }
        break;
      case Tok::LParen: {
        a.kind = ArgKind::Pipe;
        a.pipe = pipeline("parenthesized pipeline", false);
        Token close = next();
        if (close.t != Tok::RParen) throw ParseError{t.pos, "unclosed left paren"};
        a.text = "(" + a.pipe->text + ")";
        break;
      }
      default: throw ParseError{t.pos, "unexpected \"" + t.s + "\" in operand"};
    }
    // Field chains after a variable or a parenthesized pipe: $x.a.b, (f).a
    if (a.kind == ArgKind::Variable) {
      size_t dot = t.s.find('.');
      if (dot != std::string::npos) splitFields(t.s.substr(dot), a.fields);
    }
    while (peek().t == Tok::Field && (a.kind == ArgKind::Pipe || a.kind == ArgKind::Variable ||
                                       a.kind == ArgKind::Field || a.kind == ArgKind::Dot)) {
      if (a.kind == ArgKind::Dot) throw ParseError{peek().pos, "unexpected . after term \".\""};
      Token f = next();
      splitFields(f.s, a.fields);
      a.text += f.s;
    }
    return a;
  }

  static void splitFields(const std::string& chain, std::vector<std::string>& out) {
    size_t i = 0;
    while (i < chain.size()) {
      size_t j = chain.find('.', i + 1);
      out.push_back(chain.substr(i + 1, j == std::string::npos ? std::string::npos : j - i - 1));
      if (j == std::string::npos) break;
      i = j;
    }
  }

  Value number(const Token& t) {
    std::string s = t.s;
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    bool isFloat = s.find_first_of(".eE") != std::string::npos && s.find("0x") == std::string::npos && s.find("0X") == std::string::npos;
    char* end = nullptr;
    errno = 0;
    if (!isFloat) {
      bool neg = !s.empty() && s[0] == '-';
      std::string body = (neg || (!s.empty() && s[0] == '+')) ? s.substr(1) : s;
      int base = 10;
      if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) { base = 16; body = body.substr(2); }
      else if (body.size() > 2 && body[0] == '0' && (body[1] == 'b' || body[1] == 'B')) { base = 2; body = body.substr(2); }
      else if (body.size() > 2 && body[0] == '0' && (body[1] == 'o' || body[1] == 'O')) { base = 8; body = body.substr(2); }
      else if (body.size() > 1 && body[0] == '0') base = 8;
      unsigned long long v = std::strtoull(body.c_str(), &end, base);
      if (body.empty() || *end != '\0' || errno == ERANGE) throw ParseError{t.pos, "bad number syntax: \"" + t.s + "\""};
      if (neg) {
        if (v > uint64_t(INT64_MAX) + 1) throw ParseError{t.pos, "bad number syntax: \"" + t.s + "\""};
        return v == uint64_t(INT64_MAX) + 1 ? Value(INT64_MIN) : Value(-int64_t(v));
      }
      if (v > uint64_t(INT64_MAX)) return Value(uint64_t(v));
      return Value(int64_t(v));
    }
    double d = std::strtod(s.c_str(), &end);
    if (*end != '\0') throw ParseError{t.pos, "bad number syntax: \"" + t.s + "\""};
    // Go constants: a float literal with an integral value is still usable as int; keep float.
    return Value(d);
  }

  std::string name_;
  std::shared_ptr<std::string> src_;
  const TemplateSet& set_;
  size_t at_ = 0;
  size_t lastPos_ = 0;
  std::vector<Token> tokens_;
  size_t ti_ = 0;
  int rangeDepth_ = 0;
  std::map<std::string, std::shared_ptr<Node>>* defines_ = nullptr;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Formatting

namespace {
std::string formatFloat(double d, char verb = 'g', int prec = -1) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (verb == 'f' || verb == 'e') {
    std::snprintf(buf, sizeof buf, verb == 'f' ? "%.*f" : "%.*e", prec < 0 ? 6 : prec, d);
    return buf;
  }
  // Shortest digits that round-trip, laid out as Go's %g: exponent form when the exponent is
  // below -4 or at least the precision, which is 6 for the shortest form (so 1e6 prints "1e+06",
  // the Helm gotcha with large integers in values).
  int digits = 1;
  for (; digits <= 17; digits++) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string e = buf;  // d.ddde±XX
  size_t epos = e.find('e');
  int exp = std::atoi(e.c_str() + epos + 1);
  std::string mant = e.substr(0, epos);
  bool neg = mant[0] == '-';
  if (neg) mant = mant.substr(1);
  std::string digitsStr;
  for (char c : mant) if (c != '.') digitsStr += c;
  while (digitsStr.size() > 1 && digitsStr.back() == '0') digitsStr.pop_back();
  int eprec = prec < 0 ? 6 : prec;
  std::string out;
  if (exp < -4 || exp >= eprec) {
    out = digitsStr.substr(0, 1);
    if (digitsStr.size() > 1) out += "." + digitsStr.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  } else if (exp < 0) {
    out = "0." + std::string(size_t(-exp - 1), '0') + digitsStr;
  } else {
    if (int(digitsStr.size()) <= exp + 1) out = digitsStr + std::string(size_t(exp + 1 - int(digitsStr.size())), '0');
    else out = digitsStr.substr(0, size_t(exp + 1)) + "." + digitsStr.substr(size_t(exp + 1));
  }
  return neg ? "-" + out : out;
}
}  // namespace

std::string formatValue(const Value& v) {
  switch (v.kind()) {
    case json::kind::null: return "<nil>";
    case json::kind::bool_: return v.get_bool() ? "true" : "false";
    case json::kind::int64: return std::to_string(v.get_int64());
    case json::kind::uint64: return std::to_string(v.get_uint64());
    case json::kind::double_: return formatFloat(v.get_double());
    case json::kind::string: return std::string(v.get_string());
    case json::kind::array: {
      std::string o = "[";
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) o += " ";
        first = false;
        o += formatValue(e);
      }
      return o + "]";
    }
    case json::kind::object: {
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& kv : v.get_object()) items.emplace_back(std::string(kv.key()), &kv.value());
      std::sort(items.begin(), items.end(), [](auto& a, auto& b) { return a.first < b.first; });
      std::string o = "map[";
      bool first = true;
      for (auto& [k, e] : items) {
        if (!first) o += " ";
        first = false;
        o += k + ":" + formatValue(*e);
      }
      return o + "]";
    }
  }
  return "";
}

bool isTrue(const Value& v) {
  switch (v.kind()) {
    case json::kind::null: return false;
    case json::kind::bool_: return v.get_bool();
    case json::kind::int64: return v.get_int64() != 0;
    case json::kind::uint64: return v.get_uint64() != 0;
    case json::kind::double_: return v.get_double() != 0;
    case json::kind::string: return !v.get_string().empty();
    case json::kind::array: return !v.get_array().empty();
    case json::kind::object: return !v.get_object().empty();
  }
  return false;
}


// ---------------------------------------------------------------------------------------------
// Execution

namespace {
struct ExecError {
  std::string msg;
};
struct BreakSignal {};
struct ContinueSignal {};

// Unwrap Result in the executor, turning an Error into an exception caught at execute().
template <class T>
T must(Result<T> r) {
  if (!r.ok()) throw ExecError{r.error().message};
  return std::move(r).value();
}

enum class BasicKind { Bool, Int, Uint, Float, String, Invalid };
BasicKind basicKind(const Value& v) {
  switch (v.kind()) {
    case json::kind::bool_: return BasicKind::Bool;
    case json::kind::int64: return BasicKind::Int;
    case json::kind::uint64: return BasicKind::Uint;
    case json::kind::double_: return BasicKind::Float;
    case json::kind::string: return BasicKind::String;
    default: return BasicKind::Invalid;
  }
}
std::string goType(const Value& v) {
  switch (v.kind()) {
    case json::kind::null: return "<nil>";
    case json::kind::bool_: return "bool";
    case json::kind::int64: return "int64";
    case json::kind::uint64: return "uint64";
    case json::kind::double_: return "float64";
    case json::kind::string: return "string";
    case json::kind::array: return "[]interface {}";
    case json::kind::object: return "map[string]interface {}";
  }
  return "";
}

// Go's eq for two basic values: ints and uints mix, other kinds must match.
Result<bool> basicEqual(const Value& a, const Value& b) {
  BasicKind ka = basicKind(a), kb = basicKind(b);
  if (ka == BasicKind::Invalid || kb == BasicKind::Invalid) {
    if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
    return Error::invalid("incompatible types for comparison");
  }
  if (ka != kb) {
    if (ka == BasicKind::Int && kb == BasicKind::Uint) return a.get_int64() >= 0 && uint64_t(a.get_int64()) == b.get_uint64();
    if (ka == BasicKind::Uint && kb == BasicKind::Int) return b.get_int64() >= 0 && uint64_t(b.get_int64()) == a.get_uint64();
    return Error::invalid("incompatible types for comparison");
  }
  return a == b;
}
Result<bool> basicLess(const Value& a, const Value& b) {
  BasicKind ka = basicKind(a), kb = basicKind(b);
  if (ka == BasicKind::Invalid || kb == BasicKind::Invalid || ka == BasicKind::Bool || kb == BasicKind::Bool)
    return Error::invalid("invalid type for comparison");
  if (ka != kb) {
    if (ka == BasicKind::Int && kb == BasicKind::Uint) return a.get_int64() < 0 || uint64_t(a.get_int64()) < b.get_uint64();
    if (ka == BasicKind::Uint && kb == BasicKind::Int) return b.get_int64() >= 0 && a.get_uint64() < uint64_t(b.get_int64());
    return Error::invalid("incompatible types for comparison");
  }
  switch (ka) {
    case BasicKind::Int: return a.get_int64() < b.get_int64();
    case BasicKind::Uint: return a.get_uint64() < b.get_uint64();
    case BasicKind::Float: return a.get_double() < b.get_double();
    default: return a.get_string() < b.get_string();
  }
}

std::string htmlEscape(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '\'': o += "&#39;"; break;
      case '"': o += "&#34;"; break;
      case '\0': o += "\xEF\xBF\xBD"; break;
      default: o += c;
    }
  }
  return o;
}
std::string jsEscape(std::string_view s) {
  std::string o;
  for (unsigned char c : s) {
    switch (c) {
      case '\\': o += "\\\\"; break;
      case '\'': o += "\\'"; break;
      case '"': o += "\\\""; break;
      case '<': o += "\\u003C"; break;
      case '>': o += "\\u003E"; break;
      case '&': o += "\\u0026"; break;
      case '=': o += "\\u003D"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04X", c);
          o += b;
        } else {
          o += char(c);
        }
    }
  }
  return o;
}
std::string queryEscape(std::string_view s) {
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') o += char(c);
    else if (c == ' ') o += '+';
    else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      o += b;
    }
  }
  return o;
}
// Go's fmt.Sprint: spaces only between operands when neither is a string.
std::string goSprint(const std::vector<Value>& args) {
  std::string o;
  for (size_t i = 0; i < args.size(); i++) {
    if (i > 0 && !args[i].is_string() && !args[i - 1].is_string()) o += ' ';
    o += formatValue(args[i]);
  }
  return o;
}
std::string evalArgsString(const std::vector<Value>& args) {
  if (args.size() == 1 && args[0].is_string()) return std::string(args[0].get_string());
  return goSprint(args);
}
}  // namespace

struct Frame {
  std::string name;
  Value value;
};

struct ExecState {
  Executor& ex;
  const TemplateSet& set;
  std::string tmplName;  // the template being executed (for "executing %q")
  std::vector<Frame> vars;
  std::string& out;

  [[noreturn]] void fail(const Node* where, size_t pos, const std::string& context, const std::string& msg) {
    std::string loc = where ? where->file : tmplName;
    if (where && where->source) {
      auto [line, col] = lineCol(*where->source, pos);
      loc += ":" + std::to_string(line) + ":" + std::to_string(col);
    }
    std::string ctx = context.size() > 20 ? context.substr(0, 20) + "..." : context;
    throw ExecError{"template: " + loc + ": executing \"" + tmplName + "\" at <" + ctx + ">: " + msg};
  }

  void write(std::string_view s) {
    if (out.size() + s.size() > set.limits_.maxOutputBytes)
      throw ExecError{"template: " + tmplName + ": output exceeds " + std::to_string(set.limits_.maxOutputBytes) + " bytes"};
    out.append(s);
  }

  const Value* lookupVar(const std::string& name) {
    for (auto it = vars.rbegin(); it != vars.rend(); ++it)
      if (it->name == name) return &it->value;
    return nullptr;
  }
  void setVar(const Node* n, const std::string& name, Value v) {
    for (auto it = vars.rbegin(); it != vars.rend(); ++it)
      if (it->name == name) { it->value = std::move(v); return; }
    fail(n, n ? n->pos : 0, name, "undefined variable: " + name);
  }

  void walkList(const std::vector<std::shared_ptr<Node>>& list, const Value& dot) {
    for (const auto& n : list) walk(*n, dot);
  }

  void walk(const Node& n, const Value& dot) {
    switch (n.kind) {
      case Kind::List: walkList(n.list, dot); return;
      case Kind::Text: write(n.text); return;
      case Kind::Action: {
        Value v = pipeline(n, *n.pipe, dot);
        if (n.pipe->decl.empty()) write(printable(n, v));
        return;
      }
      case Kind::If:
      case Kind::With: {
        size_t mark = vars.size();
        Value v = pipeline(n, *n.pipe, dot);
        bool truth = isTrue(v);
        if (truth) walkList(n.list, n.kind == Kind::With ? v : dot);
        else walkList(n.elseList, dot);
        vars.resize(mark);
        return;
      }
      case Kind::Range: return range(n, dot);
      case Kind::Template: return callTemplate(n, dot);
      case Kind::Break: throw BreakSignal{};
      case Kind::Continue: throw ContinueSignal{};
    }
  }

  std::string printable(const Node& n, const Value& v) {
    (void)n;
    if (v.is_null()) return "<no value>";
    return formatValue(v);
  }

  void range(const Node& n, const Value& dot) {
    size_t mark = vars.size();
    // Evaluate without declaring: range variables are set per element.
    Pipeline p = *n.pipe;
    std::vector<std::string> decl = p.decl;
    p.decl.clear();
    Value v = pipeline(n, p, dot);
    auto body = [&](const Value& key, const Value& elem) -> bool {
      if (++ex.iterations_ > set.limits_.maxLoopIterations)
        fail(&n, n.pos, "range", "range exceeds " + std::to_string(set.limits_.maxLoopIterations) + " iterations");
      size_t inner = vars.size();
      if (decl.size() == 1) declareOrAssign(n, n.pipe->assign, decl[0], elem);
      if (decl.size() == 2) {
        declareOrAssign(n, n.pipe->assign, decl[0], key);
        declareOrAssign(n, n.pipe->assign, decl[1], elem);
      }
      bool stop = false;
      try {
        walkList(n.list, elem);
      } catch (const BreakSignal&) {
        stop = true;
      } catch (const ContinueSignal&) {
      }
      vars.resize(inner);
      return !stop;
    };
    bool any = false;
    switch (v.kind()) {
      case json::kind::array:
        for (size_t i = 0; i < v.get_array().size(); i++) {
          any = true;
          if (!body(Value(int64_t(i)), v.get_array()[i])) break;
        }
        break;
      case json::kind::object: {
        std::vector<std::string> keys;
        for (const auto& kv : v.get_object()) keys.emplace_back(kv.key());
        std::sort(keys.begin(), keys.end());
        for (const auto& k : keys) {
          any = true;
          if (!body(Value(k), v.get_object().at(k))) break;
        }
        break;
      }
      case json::kind::int64:
      case json::kind::uint64: {
        if (decl.size() > 1) fail(&n, n.pos, n.pipe->text, "can't use " + formatValue(v) + " to iterate over more than one variable");
        int64_t count = v.is_int64() ? v.get_int64() : int64_t(std::min<uint64_t>(v.get_uint64(), INT64_MAX));
        for (int64_t i = 0; i < count; i++) {
          any = true;
          if (!body(Value(i), Value(i))) break;
        }
        break;
      }
      case json::kind::null: break;
      default: fail(&n, n.pos, n.pipe->text, "range can't iterate over " + formatValue(v));
    }
    vars.resize(mark);
    if (!any) walkList(n.elseList, dot);
  }

  void declareOrAssign(const Node& n, bool assign, const std::string& name, Value v) {
    if (assign) setVar(&n, name, std::move(v));
    else vars.push_back({name, std::move(v)});
  }

  void callTemplate(const Node& n, const Value& dot) {
    Value arg = n.pipe ? pipeline(n, *n.pipe, dot) : Value();
    auto it = set.templates_.find(n.text);
    if (it == set.templates_.end()) fail(&n, n.pos, "template " + n.text, "template \"" + n.text + "\" not defined");
    std::string saved = out.substr(0, 0);
    (void)saved;
    must(runIn(ex, set, n.text, *it->second, arg, out));
  }

  static Result<bool> runIn(Executor& ex, const TemplateSet& set, const std::string& name, const Node& root,
                            const Value& dot, std::string& out);

  Value pipeline(const Node& n, const Pipeline& p, const Value& dot) {
    Value v;
    bool hasFinal = false;
    for (const auto& c : p.cmds) {
      v = command(n, c, dot, hasFinal ? &v : nullptr);
      hasFinal = true;
    }
    for (const auto& name : p.decl) declareOrAssign(n, p.assign, name, v);
    return v;
  }

  Value command(const Node& n, const Command& c, const Value& dot, const Value* final) {
    const Arg& first = c.args[0];
    switch (first.kind) {
      case ArgKind::Identifier: return call(n, c, dot, final);
      case ArgKind::Field:
      case ArgKind::Variable:
      case ArgKind::Pipe: {
        Value base;
        if (first.kind == ArgKind::Field) base = dot;
        else if (first.kind == ArgKind::Variable) {
          const Value* var = lookupVar(first.name);
          if (!var) fail(&n, first.pos, first.text, "undefined variable: " + first.name);
          base = *var;
        } else {
          base = pipeline(n, *first.pipe, dot);
        }
        if (c.args.size() > 1 || final) {
          if (first.fields.empty()) fail(&n, first.pos, first.text, "can't give argument to non-function " + first.text);
          // Method call on the last field (Helm's .Files.Get, .Capabilities.APIVersions.Has).
          std::vector<std::string> head(first.fields.begin(), first.fields.end() - 1);
          Value recv = fields(n, first, base, head);
          std::vector<Value> args;
          for (size_t i = 1; i < c.args.size(); i++) args.push_back(arg(n, c.args[i], dot));
          if (final) args.push_back(*final);
          return method(n, first, recv, first.fields.back(), args);
        }
        return fields(n, first, base, first.fields);
      }
      default:
        if (final) fail(&n, first.pos, first.text, "can't give argument to non-function " + first.text);
        return arg(n, first, dot);
    }
  }

  Value method(const Node& n, const Arg& a, const Value& recv, const std::string& name, std::vector<Value>& args) {
    if (recv.is_object()) {
      auto* kind = recv.get_object().if_contains("\x01kind");
      if (kind && kind->is_string()) {
        auto fn = set.functions_.find("\x01" + std::string(kind->get_string()) + "." + name);
        if (fn != set.functions_.end()) {
          args.insert(args.begin(), recv);
          auto r = fn->second(ex, args);
          if (!r.ok()) fail(&n, a.pos, a.text, "error calling " + name + ": " + r.error().message);
          return std::move(r).value();
        }
      }
      if (recv.get_object().contains(name))
        fail(&n, a.pos, a.text, name + " has arguments but cannot be invoked as function");
    }
    fail(&n, a.pos, a.text, "can't evaluate field " + name + " in type " + goType(recv));
  }

  Value fields(const Node& n, const Arg& a, Value v, const std::vector<std::string>& chain) {
    for (const auto& f : chain) {
      if (v.is_object()) {
        const auto& obj = v.get_object();
        if (const Value* e = obj.if_contains(f)) {
          Value next = *e;
          v = std::move(next);
          continue;
        }
        // A method without arguments (.Capabilities.KubeVersion.Version is data; .Files.X not).
        if (auto* kind = obj.if_contains("\x01kind"); kind && kind->is_string()) {
          auto fn = set.functions_.find("\x01" + std::string(kind->get_string()) + "." + f);
          if (fn != set.functions_.end()) {
            std::vector<Value> args{v};
            auto r = fn->second(ex, args);
            if (!r.ok()) fail(&n, a.pos, a.text, "error calling " + f + ": " + r.error().message);
            v = std::move(r).value();
            continue;
          }
        }
        if (set.missingKeyError_) fail(&n, a.pos, a.text, "map has no entry for key \"" + f + "\"");
        v = nullptr;
        // Go: the zero interface value; a further field on it is a nil pointer error.
        continue;
      }
      if (v.is_null()) fail(&n, a.pos, a.text, "nil pointer evaluating interface {}." + f);
      fail(&n, a.pos, a.text, "can't evaluate field " + f + " in type " + goType(v));
    }
    return v;
  }

  Value arg(const Node& n, const Arg& a, const Value& dot) {
    switch (a.kind) {
      case ArgKind::Dot: return dot;
      case ArgKind::Nil: return nullptr;
      case ArgKind::Bool:
      case ArgKind::Number: return a.literal;
      case ArgKind::String: return Value(a.name);
      case ArgKind::Field: return fields(n, a, dot, a.fields);
      case ArgKind::Variable: {
        const Value* var = lookupVar(a.name);
        if (!var) fail(&n, a.pos, a.text, "undefined variable: " + a.name);
        return fields(n, a, *var, a.fields);
      }
      case ArgKind::Pipe: return fields(n, a, pipeline(n, *a.pipe, dot), a.fields);
      case ArgKind::Identifier: {
        Command c;
        c.pos = a.pos;
        c.args.push_back(a);
        return call(n, c, dot, nullptr);
      }
    }
    return nullptr;
  }

  Value call(const Node& n, const Command& c, const Value& dot, const Value* final) {
    const Arg& fnArg = c.args[0];
    const std::string& name = fnArg.name;
    // and/or evaluate lazily: they stop at the first falsy/truthy argument.
    if (name == "and" || name == "or") {
      size_t count = c.args.size() - 1 + (final ? 1 : 0);
      if (count == 0) fail(&n, fnArg.pos, name, "wrong number of args for " + name + ": want at least 1 got 0");
      Value v;
      for (size_t i = 1; i < c.args.size(); i++) {
        v = arg(n, c.args[i], dot);
        if (isTrue(v) != (name == "and")) return v;
      }
      if (final) v = *final;
      return v;
    }
    std::vector<Value> args;
    for (size_t i = 1; i < c.args.size(); i++) args.push_back(arg(n, c.args[i], dot));
    if (final) args.push_back(*final);
    auto r = builtin(name, args);
    if (r) {
      if (!r->ok()) fail(&n, fnArg.pos, name, "error calling " + name + ": " + r->error().message);
      return std::move(*r).value();
    }
    auto fn = set.functions_.find(name);
    if (fn == set.functions_.end()) fail(&n, fnArg.pos, name, "function \"" + name + "\" not defined");
    auto res = fn->second(ex, args);
    if (res.ok()) writeBack(n, name, c, final, *res);
    if (!res.ok()) {
      const std::string& m = res.error().message;
      // Errors from nested templates (include) already carry their own location: pass them on.
      if (m.rfind("template: ", 0) == 0 && (name == "include" || name == "tpl")) throw ExecError{m};
      fail(&n, fnArg.pos, name, "error calling " + name + ": " + m);
    }
    return std::move(res).value();
  }

  // Go's maps are references: `set $d "k" v` changes $d itself. Our values are copies, so the
  // mutating sprig functions' result is stored back into the variable their map came from.
  void writeBack(const Node& n, const std::string& name, const Command& c, const Value* final, const Value& result) {
    static const std::set<std::string_view> mutating = {"set", "unset", "merge", "mergeOverwrite"};
    if (!mutating.count(name) || final || c.args.size() < 2 || c.args[1].kind != ArgKind::Variable) return;
    const Arg& target = c.args[1];
    Value* slot = nullptr;
    for (auto it = vars.rbegin(); it != vars.rend(); ++it)
      if (it->name == target.name) { slot = &it->value; break; }
    for (const auto& f : target.fields) {
      if (!slot || !slot->is_object()) return;
      slot = slot->get_object().if_contains(f);
    }
    if (!slot) fail(&n, target.pos, target.text, "undefined variable: " + target.name);
    if (slot->is_object()) *slot = result;
  }

  static Result<Value> wantArgs(const std::string& name, const std::vector<Value>& args, size_t n) {
    if (args.size() != n)
      return Error::invalid("wrong number of args for " + name + ": want " + std::to_string(n) + " got " + std::to_string(args.size()));
    return Value();
  }

  std::optional<Result<Value>> builtin(const std::string& name, std::vector<Value>& args) {
    if (name == "not") {
      if (auto w = wantArgs(name, args, 1); !w.ok()) return w;
      return Result<Value>(Value(!isTrue(args[0])));
    }
    if (name == "len") {
      if (auto w = wantArgs(name, args, 1); !w.ok()) return w;
      const Value& v = args[0];
      if (v.is_string()) return Result<Value>(Value(int64_t(v.get_string().size())));
      if (v.is_array()) return Result<Value>(Value(int64_t(v.get_array().size())));
      if (v.is_object()) return Result<Value>(Value(int64_t(v.get_object().size())));
      return Result<Value>(Error::invalid("len of type " + goType(v)));
    }
    if (name == "index") return index(args);
    if (name == "slice") return slice(args);
    if (name == "print") return Result<Value>(Value(goSprint(args)));
    if (name == "println") {
      std::string o;
      for (size_t i = 0; i < args.size(); i++) o += (i ? " " : "") + formatValue(args[i]);
      return Result<Value>(Value(o + "\n"));
    }
    if (name == "printf") {
      if (args.empty() || !args[0].is_string()) return Result<Value>(Error::invalid("wrong number of args for printf: want at least 1 got 0"));
      std::vector<Value> rest(args.begin() + 1, args.end());
      return Result<Value>(Value(goSprintf(args[0].get_string(), rest)));
    }
    if (name == "html") return Result<Value>(Value(htmlEscape(evalArgsString(args))));
    if (name == "js") return Result<Value>(Value(jsEscape(evalArgsString(args))));
    if (name == "urlquery") return Result<Value>(Value(queryEscape(evalArgsString(args))));
    if (name == "eq") {
      if (args.size() < 2) return Result<Value>(Error::invalid("missing argument for comparison"));
      for (size_t i = 1; i < args.size(); i++) {
        auto r = basicEqual(args[0], args[i]);
        if (!r.ok()) return Result<Value>(r.error());
        if (*r) return Result<Value>(Value(true));
      }
      return Result<Value>(Value(false));
    }
    if (name == "ne" || name == "lt" || name == "le" || name == "gt" || name == "ge") {
      if (auto w = wantArgs(name, args, 2); !w.ok()) return w;
      if (name == "ne") {
        auto r = basicEqual(args[0], args[1]);
        if (!r.ok()) return Result<Value>(r.error());
        return Result<Value>(Value(!*r));
      }
      auto less = name == "lt" || name == "ge" ? basicLess(args[0], args[1]) : basicLess(args[1], args[0]);
      if (!less.ok()) return Result<Value>(less.error());
      bool v = *less;
      if (name == "ge" || name == "le") v = !v;
      return Result<Value>(Value(v));
    }
    if (name == "call") return Result<Value>(Error::invalid("call of a non-function value"));
    return std::nullopt;
  }

  static std::optional<int64_t> asIndex(const Value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= uint64_t(INT64_MAX)) return int64_t(v.get_uint64());
    return std::nullopt;
  }

  Result<Value> index(std::vector<Value>& args) {
    if (args.empty()) return Error::invalid("wrong number of args for index: want at least 1 got 0");
    Value v = args[0];
    for (size_t i = 1; i < args.size(); i++) {
      const Value& k = args[i];
      if (v.is_array()) {
        auto idx = asIndex(k);
        if (!idx) return Error::invalid("cannot index slice/array with type " + goType(k));
        if (*idx < 0 || size_t(*idx) >= v.get_array().size())
          return Error::invalid("index out of range: " + std::to_string(*idx));
        Value e = v.get_array()[size_t(*idx)];
        v = std::move(e);
      } else if (v.is_object()) {
        if (!k.is_string()) return Error::invalid("value has type " + goType(k) + "; should be string");
        const Value* e = v.get_object().if_contains(k.get_string());
        v = e ? *e : Value();
      } else if (v.is_string()) {
        auto idx = asIndex(k);
        if (!idx) return Error::invalid("cannot index slice/array with type " + goType(k));
        if (*idx < 0 || size_t(*idx) >= v.get_string().size())
          return Error::invalid("index out of range: " + std::to_string(*idx));
        v = Value(int64_t((unsigned char)v.get_string()[size_t(*idx)]));
      } else if (v.is_null()) {
        return Error::invalid("index of untyped nil");
      } else {
        return Error::invalid("can't index item of type " + goType(v));
      }
    }
    return v;
  }

  Result<Value> slice(std::vector<Value>& args) {
    if (args.empty()) return Error::invalid("wrong number of args for slice: want at least 1 got 0");
    const Value& v = args[0];
    size_t len = v.is_string() ? v.get_string().size() : v.is_array() ? v.get_array().size() : 0;
    if (!v.is_string() && !v.is_array()) return Error::invalid("can't slice item of type " + goType(v));
    if (args.size() > 4 || (v.is_string() && args.size() > 3)) return Error::invalid("too many slice indexes: " + std::to_string(args.size() - 1));
    int64_t idx[3] = {0, int64_t(len), int64_t(len)};
    for (size_t i = 1; i < args.size(); i++) {
      auto x = asIndex(args[i]);
      if (!x) return Error::invalid("cannot index slice/array with type " + goType(args[i]));
      if (*x < 0 || *x > int64_t(len)) return Error::invalid("index out of range: " + std::to_string(*x));
      idx[i - 1] = *x;
    }
    if (idx[0] > idx[1]) return Error::invalid("invalid slice index: " + std::to_string(idx[0]) + " > " + std::to_string(idx[1]));
    if (v.is_string()) return Value(std::string(v.get_string()).substr(size_t(idx[0]), size_t(idx[1] - idx[0])));
    json::array out;
    for (int64_t i = idx[0]; i < idx[1]; i++) out.push_back(v.get_array()[size_t(i)]);
    return Value(std::move(out));
  }
};

Result<bool> ExecState::runIn(Executor& ex, const TemplateSet& set, const std::string& name, const Node& root,
                              const Value& dot, std::string& out) {
  if (ex.depth_ >= set.limits_.maxCallDepth)
    return Error::invalid("template: " + name + ": exceeded max template depth (" + std::to_string(set.limits_.maxCallDepth) + ")");
  ex.depth_++;
  ExecState st{ex, set, name, {}, out};
  st.vars.push_back({"$", dot});
  try {
    st.walk(root, dot);
  } catch (const ExecError& e) {
    ex.depth_--;
    return Error::invalid(e.msg);
  }
  ex.depth_--;
  return true;
}

Executor::Executor(const TemplateSet& set, std::string& out) : set_(&set), out_(&out) {}

Result<std::string> Executor::runTemplate(const std::string& name, const Value& data) {
  auto it = set_->templates_.find(name);
  if (it == set_->templates_.end()) return Error::notFound("template: no template \"" + name + "\" associated with template");
  std::string out;
  auto r = ExecState::runIn(*this, *set_, name, *it->second, data, out);
  if (!r.ok()) return r.error();
  if (out_->size() + out.size() > set_->limits_.maxOutputBytes)
    return Error::invalid("template: " + name + ": output exceeds " + std::to_string(set_->limits_.maxOutputBytes) + " bytes");
  return out;
}

Result<std::string> Executor::runText(std::string_view text, const Value& data) {
  if (depth_ >= set_->limits_.maxCallDepth)
    return Error::invalid("template: exceeded max template depth (" + std::to_string(set_->limits_.maxCallDepth) + ")");
  // A copy of the set so tpl's own defines do not leak into the chart's templates.
  auto scratch = std::make_unique<TemplateSet>();
  scratch->templates_ = set_->templates_;
  scratch->sources_ = set_->sources_;
  scratch->functions_ = set_->functions_;
  scratch->limits_ = set_->limits_;
  scratch->missingKeyError_ = set_->missingKeyError_;
  const std::string name = "gotpl";
  if (auto st = scratch->parse(name, text); !st.ok()) return st.error();
  const TemplateSet* saved = set_;
  set_ = scratch.get();
  auto r = runTemplate(name, data);
  set_ = saved;
  scratch_.push_back(std::move(scratch));
  return r;
}

TemplateSet::TemplateSet() = default;
TemplateSet::~TemplateSet() = default;
TemplateSet::TemplateSet(TemplateSet&&) noexcept = default;
TemplateSet& TemplateSet::operator=(TemplateSet&&) noexcept = default;

void TemplateSet::addFunctions(const FunctionMap& functions) {
  for (const auto& [k, v] : functions) functions_[k] = v;
}

Status TemplateSet::parse(const std::string& name, std::string_view text) {
  std::map<std::string, std::shared_ptr<Node>> defines;
  Parser parser(name, text, *this);
  auto root = parser.run(defines);
  if (!root.ok()) return root.error();
  for (auto& [k, v] : defines) {
    templates_[k] = v;
    sources_[k] = name;
  }
  // Go: a file holding only defines and whitespace does not replace an existing template body.
  bool empty = true;
  for (const auto& n : (*root)->list)
    if (!(n->kind == Kind::Text && n->text.find_first_not_of(" \t\r\n") == std::string::npos) && !(n->kind == Kind::List && n->list.empty())) empty = false;
  if (!empty || !templates_.count(name)) {
    templates_[name] = *root;
    sources_[name] = name;
  }
  return {};
}

bool TemplateSet::has(std::string_view name) const { return templates_.find(name) != templates_.end(); }

std::vector<std::string> TemplateSet::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : templates_) out.push_back(k);
  return out;
}

Result<std::string> TemplateSet::execute(const std::string& name, const Value& data) const {
  std::string out;
  Executor ex(*this, out);
  auto r = ex.runTemplate(name, data);
  if (!r.ok()) return r.error();
  return std::move(r).value();
}

// ---------------------------------------------------------------------------------------------
// fmt.Sprintf

namespace {
std::string pad(std::string s, int width, bool minus, bool zero) {
  // Width counts runes in Go; count UTF-8 lead bytes.
  int runes = 0;
  for (unsigned char c : s) if ((c & 0xC0) != 0x80) runes++;
  if (width <= runes) return s;
  size_t n = size_t(width - runes);
  if (minus) return s + std::string(n, ' ');
  if (zero) {
    size_t sign = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    return s.substr(0, sign) + std::string(n, '0') + s.substr(sign);
  }
  return std::string(n, ' ') + s;
}
std::string goQuote(std::string_view s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      case '\r': o += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\x%02x", c);
          o += b;
        } else {
          o += char(c);
        }
    }
  }
  return o + "\"";
}
std::string badVerb(char verb, const Value& v) {
  return std::string("%!") + verb + "(" + goType(v) + "=" + formatValue(v) + ")";
}
std::string hexOf(std::string_view s, bool upper) {
  std::string o;
  char b[4];
  for (unsigned char c : s) {
    std::snprintf(b, sizeof b, upper ? "%02X" : "%02x", c);
    o += b;
  }
  return o;
}
}  // namespace

std::string goSprintf(std::string_view f, const std::vector<Value>& args) {
  std::string out;
  size_t argi = 0;
  for (size_t i = 0; i < f.size(); i++) {
    char c = f[i];
    if (c != '%') { out += c; continue; }
    if (++i >= f.size()) { out += "%!(NOVERB)"; break; }
    bool minus = false, plus = false, zero = false, sharp = false, space = false;
    for (; i < f.size(); i++) {
      if (f[i] == '-') minus = true;
      else if (f[i] == '+') plus = true;
      else if (f[i] == '0') zero = !minus;
      else if (f[i] == '#') sharp = true;
      else if (f[i] == ' ') space = true;
      else break;
    }
    int width = -1, prec = -1;
    while (i < f.size() && std::isdigit((unsigned char)f[i])) width = (width < 0 ? 0 : width) * 10 + (f[i++] - '0');
    if (i < f.size() && f[i] == '.') {
      i++;
      prec = 0;
      while (i < f.size() && std::isdigit((unsigned char)f[i])) prec = prec * 10 + (f[i++] - '0');
    }
    if (i >= f.size()) { out += "%!(NOVERB)"; break; }
    char verb = f[i];
    if (verb == '%') { out += '%'; continue; }
    if (argi >= args.size()) { out += std::string("%!") + verb + "(MISSING)"; continue; }
    const Value& v = args[argi++];
    std::string s;
    switch (verb) {
      case 'v':
        s = v.is_null() ? "<nil>" : formatValue(v);
        if (plus && v.is_double() && v.get_double() >= 0) s = "+" + s;
        break;
      case 's':
        if (v.is_string()) s = std::string(v.get_string());
        else if (v.is_array() || v.is_object() || v.is_null()) s = v.is_null() ? "%!s(<nil>)" : formatValue(v);
        else s = badVerb('s', v);
        if (prec >= 0 && v.is_string() && int(s.size()) > prec) s = s.substr(0, size_t(prec));
        break;
      case 'q':
        if (v.is_string()) s = goQuote(v.get_string());
        else if (v.is_int64()) s = "'" + std::string(1, char(v.get_int64())) + "'";
        else s = badVerb('q', v);
        break;
      case 'd':
        if (v.is_int64()) s = std::to_string(v.get_int64());
        else if (v.is_uint64()) s = std::to_string(v.get_uint64());
        else s = badVerb('d', v);
        if (plus && v.is_int64() && v.get_int64() >= 0) s = "+" + s;
        else if (space && v.is_int64() && v.get_int64() >= 0) s = " " + s;
        break;
      case 't':
        s = v.is_bool() ? (v.get_bool() ? "true" : "false") : badVerb('t', v);
        break;
      case 'f': case 'F': case 'e': case 'g':
        if (v.is_double() || v.is_int64()) {
          if (v.is_int64()) { s = badVerb(verb, v); break; }
          double d = v.get_double();
          s = verb == 'g' ? formatFloat(d, 'g', prec) : formatFloat(d, verb == 'e' ? 'e' : 'f', prec < 0 ? 6 : prec);
          if (plus && d >= 0) s = "+" + s;
        } else {
          s = badVerb(verb, v);
        }
        break;
      case 'x': case 'X': case 'o': case 'b': case 'c':
        if (v.is_int64() || v.is_uint64()) {
          uint64_t u = v.is_int64() ? uint64_t(std::llabs(v.get_int64())) : v.get_uint64();
          bool neg = v.is_int64() && v.get_int64() < 0;
          if (verb == 'c') {
            s = std::string(1, char(u));
            break;
          }
          int base = verb == 'o' ? 8 : verb == 'b' ? 2 : 16;
          const char* digits = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
          std::string d;
          do { d.insert(d.begin(), digits[u % uint64_t(base)]); u /= uint64_t(base); } while (u);
          if (sharp && base == 16) d = (verb == 'X' ? "0X" : "0x") + d;
          if (sharp && base == 8) d = "0" + d;
          s = (neg ? "-" : "") + d;
        } else if (v.is_string() && (verb == 'x' || verb == 'X')) {
          s = hexOf(v.get_string(), verb == 'X');
        } else {
          s = badVerb(verb, v);
        }
        break;
      case 'T': s = goType(v); break;
      default: s = badVerb(verb, v);
    }
    out += pad(s, width, minus, zero && verb != 's' && verb != 'v' && verb != 'q');
  }
  if (argi < args.size()) {
    out += "%!(EXTRA ";
    for (size_t k = argi; k < args.size(); k++) {
      if (k > argi) out += ", ";
      out += goType(args[k]) + "=" + formatValue(args[k]);
    }
    out += ")";
  }
  return out;
}

}  // namespace skiff::helm
