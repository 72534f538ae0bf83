// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for, with the columns
// Kubernetes' own printers use for each kind. `skiff get` renders the same tables.
#pragma once
#include <boost/json/value.hpp>

#include "api/resources.h"

namespace skiff::api {

enum class TableObject { None, Metadata, Object };  // includeObject query parameter

boost::json::array tableColumns(const ResourceType& type);
boost::json::object tableRow(const ResourceType& type, const boost::json::value& object, TableObject include);
// A whole Table for a list of objects.
boost::json::object makeTable(const ResourceType& type, const std::vector<boost::json::value>& objects,
                              const std::string& resourceVersion, const std::string& continueToken,
                              TableObject include);

}  // namespace skiff::api
