// Served versions that are stored as another version (autoscaling/v1 HorizontalPodAutoscaler is
// stored as autoscaling/v2, events.k8s.io/v1 Event as core/v1 Event, a custom kind's other
// versions as its storage version, as Kubernetes does). The API server converts request bodies to the
// stored version and responses back; everything inside skiff only sees the stored version.
#pragma once
#include <boost/json/value.hpp>

#include "api/resources.h"

namespace skiff::api {

// The stored version of `served`, or nullptr when `served` is itself stored.
const ResourceType* storedVersionOf(const ResourceType& served);

boost::json::value convertToStored(const ResourceType& served, boost::json::value object);
boost::json::value convertFromStored(const ResourceType& served, boost::json::value object);

}  // namespace skiff::api
