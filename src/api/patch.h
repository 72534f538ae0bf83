// The three patch formats of the Kubernetes API, as pure functions over JSON values.
#pragma once
#include <boost/json/value.hpp>

#include "api/schema.h"
#include "common/result.h"

namespace skiff::api {

// RFC 7386 JSON merge patch (application/merge-patch+json).
boost::json::value applyMergePatch(const boost::json::value& target, const boost::json::value& patch);

// RFC 6902 JSON patch (application/json-patch+json).
Result<boost::json::value> applyJsonPatch(const boost::json::value& target, const boost::json::value& patch);

// Strategic merge patch (application/strategic-merge-patch+json): a merge patch whose lists of
// objects merge by the schema's merge key, with the $patch, $retainKeys, $setElementOrder and
// $deleteFromPrimitiveList directives kubectl sends. `type` may be null (no schema: merge patch).
Result<boost::json::value> applyStrategicMergePatch(const boost::json::value& target,
                                                    const boost::json::value& patch, const TypeRef* type);

// The merge patch that turns `from` into `to` (null for removed keys); empty object if equal.
boost::json::value createMergePatch(const boost::json::value& from, const boost::json::value& to);

// The three-way merge patch of client-side apply and Helm's upgrade: null for fields in
// `original` that `modified` dropped, plus the fields of `modified` that differ from `current`
// (fields only `current` has, such as status or defaults, stay). Empty object if nothing to do.
boost::json::value createThreeWayMergePatch(const boost::json::value& original, const boost::json::value& modified,
                                            const boost::json::value& current);

}  // namespace skiff::api
