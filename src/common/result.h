// Result<T>: expected failures as values. An Error carries what a Kubernetes Status carries
// (HTTP code, reason, message, field causes) so it can travel from the store or a validator
// up to the HTTP layer or the CLI without translation at every hop.
#pragma once
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace skiff {

struct FieldCause {
  std::string reason;   // e.g. FieldValueRequired, FieldValueInvalid
  std::string message;  // e.g. Required value
  std::string field;    // e.g. spec.containers[0].image
};

struct Error {
  int code = 500;
  std::string reason;  // Kubernetes StatusReason: NotFound, AlreadyExists, Conflict, Invalid, ...
  std::string message;
  std::vector<FieldCause> causes;

  static Error notFound(std::string msg) { return {404, "NotFound", std::move(msg), {}}; }
  static Error alreadyExists(std::string msg) { return {409, "AlreadyExists", std::move(msg), {}}; }
  static Error conflict(std::string msg) { return {409, "Conflict", std::move(msg), {}}; }
  static Error badRequest(std::string msg) { return {400, "BadRequest", std::move(msg), {}}; }
  static Error invalid(std::string msg) { return {422, "Invalid", std::move(msg), {}}; }
  static Error gone(std::string msg) { return {410, "Expired", std::move(msg), {}}; }
  static Error internal(std::string msg) { return {500, "InternalError", std::move(msg), {}}; }
  static Error forbidden(std::string msg) { return {403, "Forbidden", std::move(msg), {}}; }
  static Error unavailable(std::string msg) { return {503, "ServiceUnavailable", std::move(msg), {}}; }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace skiff
