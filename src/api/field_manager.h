// Field management and server-side apply, as Kubernetes' structured-merge-diff does them:
// metadata.managedFields records, per manager and operation (Apply or Update), the set of fields
// it owns in the fieldsV1 format (`f:name` fields, `k:{"name":"web"}` items of keyed lists,
// `v:"x"` items of sets, `.` for an item itself).
//
//   - An update (create, PUT, non-apply PATCH) by manager M gives M the fields whose values it
//     changed; other managers lose them (an update never conflicts).
//   - An apply by M merges M's configuration into the object (maps by key, keyed lists by their
//     keys, sets as sets, everything else replaced), fails with a 409 listing each field another
//     manager owns whose value it would change (unless forced, which takes them), removes fields
//     M applied before and no longer does unless another manager owns them, and makes M's Apply
//     entry exactly the fields it applied.
//
// How lists merge comes from the kind's schema: built-in kinds' merge keys (src/api/schema.h),
// custom kinds' x-kubernetes-list-type (src/api/structural_schema.h); lists without either are
// atomic (one owner replaces them whole). Server-owned metadata (name, uid, resourceVersion, ...)
// is never owned; status is owned only through the status subresource of kinds that have one.
#pragma once
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "api/resources.h"
#include "common/result.h"

namespace skiff::api {

struct ManagedWrite {
  std::string manager;      // fieldManager
  std::string apiVersion;   // the version the manager wrote (the served one)
  std::string subresource;  // "" or "status"
  std::string time;         // RFC 3339; now when empty
};

// metadata.managedFields of `object` after `manager` created it (old null) or changed `old` into it.
boost::json::value managedFieldsAfterUpdate(const ResourceType& type, const boost::json::value* old, const boost::json::value& object,
                                            const ManagedWrite& write);

// The object after `write.manager` applies `applied` to `live` (null: the object does not exist
// yet), managedFields included; Conflict (409, a FieldManagerConflict cause per field) when
// another manager owns a field whose value would change and `force` is false.
Result<boost::json::value> applyConfiguration(const ResourceType& type, const boost::json::value* live, const boost::json::value& applied,
                                              const ManagedWrite& write, bool force);

}  // namespace skiff::api
