// Defaulting and validation of the served kinds, as the Kubernetes API server does them.
// Pure functions over JSON: the API server calls them on every create and update.
#pragma once
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "api/resources.h"
#include "common/result.h"

namespace skiff::api {

// A pod's QoS class from its spec (status.qosClass, set when the pod is created):
// BestEffort, Burstable or Guaranteed by Kubernetes' rules.
std::string podQosClass(const boost::json::value& podSpec);

// Fills the fields Kubernetes defaults (restartPolicy, imagePullPolicy, strategy, ...).
void applyDefaults(const ResourceType& type, boost::json::value& object);

// Every problem with the object, each with its field path. `old` is the stored object on update.
std::vector<FieldCause> validateObject(const ResourceType& type, const boost::json::value& object,
                                       const boost::json::value* old);

// 422 Invalid in Kubernetes' words: `Pod "web" is invalid: [spec.containers[0].image: Required value, ...]`.
Error invalidObject(const ResourceType& type, const std::string& name, std::vector<FieldCause> causes);

// Quantity syntax: 100m, 1.5Gi, 2e3, 128974848 ...
bool isValidQuantity(std::string_view q);

}  // namespace skiff::api
