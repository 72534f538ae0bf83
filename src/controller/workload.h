// Helpers shared by the workload controllers: owner references, pod readiness and availability,
// template hashing. Pure functions over JSON.
#pragma once
#include <cstdint>
#include <string>

#include <boost/json/value.hpp>

namespace skiff::controller {

// The ownerReference with controller=true, or nullptr.
const boost::json::value* controllerRef(const boost::json::value& object);
boost::json::object makeControllerRef(const boost::json::value& owner);
bool isPodReady(const boost::json::value& pod);
// Ready for at least minReadySeconds (as of `now`, seconds since epoch).
bool isPodAvailable(const boost::json::value& pod, int64_t minReadySeconds, int64_t now);
bool isPodActive(const boost::json::value& pod);  // not terminating, not finished
int64_t intAt(const boost::json::value& object, const char* path, int64_t fallback);
// Resolves an int-or-percent against a total (maxSurge rounds up, maxUnavailable down).
int64_t resolveIntOrPercent(const boost::json::value* v, int64_t total, bool roundUp, int64_t fallback);
// A short stable hash of a pod template, Kubernetes' pod-template-hash.
std::string templateHash(const boost::json::value& templ, int64_t collisionCount = 0);
int64_t nowSeconds();
// "ns/name" of the object's controller when it is of `kind`, or "".
std::string controllerKey(const boost::json::value& object, const char* kind);
// Whether writing `next` as status would change anything but condition timestamps (so
// controllers do not rewrite status, and wake themselves, on every pass).
bool sameStatus(const boost::json::value* current, const boost::json::value& next);

}  // namespace skiff::controller
