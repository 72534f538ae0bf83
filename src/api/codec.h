// Manifest codecs: YAML 1.2 (core schema) and JSON in, JSON or YAML out.
//
// Objects are boost::json values everywhere in skiff; typed views are read from them where a
// component needs them. Decoding never throws: bad input comes back as an Error that names the
// document and line.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace skiff::api {

// Parses one or more documents (YAML multi-document stream, or a JSON value). Empty documents
// are skipped; a `kind: List` (or any *List with items) is expanded into its items.
Result<std::vector<boost::json::value>> decodeManifests(std::string_view text);

// Parses exactly one JSON document.
Result<boost::json::value> decodeJson(std::string_view text);

// Block-style YAML, keys in object order; strings quoted only where YAML would misread them.
std::string toYaml(const boost::json::value& value);

std::string toJson(const boost::json::value& value);
// Indented JSON, as `kubectl get -o json` prints.
std::string toPrettyJson(const boost::json::value& value);

}  // namespace skiff::api
