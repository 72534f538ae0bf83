// Small helpers unit tests share for building objects from JSON text.
#pragma once
#include <memory>

#include <boost/json.hpp>

namespace skiff::test_support {

// An immutable object as informers and route builders hold them.
inline std::shared_ptr<const boost::json::value> obj(const char* text) {
  return std::make_shared<const boost::json::value>(boost::json::parse(text));
}

}  // namespace skiff::test_support
