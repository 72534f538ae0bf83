#include "apiserver/registry.h"
#include "apiserver/rbac_admission.h"

#include <boost/json.hpp>
#include <chrono>
#include <ctime>

#include "api/admission.h"
#include "api/codec.h"
#include "api/object.h"
#include "api/field_manager.h"
#include "api/patch.h"
#include "api/structural_schema.h"
#include "common/base64.h"

namespace skiff::apiserver {
namespace {

constexpr size_t kMaxObjectBytes = 1536 * 1024;  // etcd's default request limit

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

Error notFound(const api::ResourceType& type, const std::string& name) {
  Error e = Error::notFound(qualifiedResource(type) + " " + quoted(name) + " not found");
  return e;
}

// A read that found nothing is the API's NotFound; a store that could not answer (etcd out of
// reach) stays what it is, so the client gets 503 with the reason instead of a false 404.
Error storeMiss(const Error& error, const api::ResourceType& type, const std::string& name) {
  return error.code == 404 ? notFound(type, name) : error;
}

Result<json::value> parseStored(const store::KeyValue& kv) {
  auto v = api::decodeJson(*kv.value);
  if (!v) return Error::internal("stored object " + kv.key + " is not valid JSON: " + v.error().message);
  return v;
}

int64_t parseRevision(const std::string& rv) {
  if (rv.empty()) return 0;
  char* end = nullptr;
  long long v = std::strtoll(rv.c_str(), &end, 10);
  return (*end || v < 0) ? -1 : int64_t(v);
}

// Everything but metadata and status: what `generation` counts changes of.
json::value specPart(const json::value& o) {
  if (!o.is_object()) return o;
  json::object copy = o.get_object();
  copy.erase("metadata");
  copy.erase("status");
  return copy;
}

std::string serializeWithRevision(json::value& object, int64_t revision) {
  api::metadataOf(object)["resourceVersion"] = std::to_string(revision);
  return json::serialize(object);
}

}  // namespace

std::string qualifiedResource(const api::ResourceType& type) {
  return type.group.empty() ? type.plural : type.plural + "." + type.group;
}

// The DefaultIngressClass admission plugin: an Ingress that names no class (nor the legacy
// annotation) gets the class marked ingressclass.kubernetes.io/is-default-class.
Registry::Registry(store::Store& store, RegistryOptions options)
    : store_(store),
      options_(std::move(options)),
      podSecurity_(PodSecurityAdmission::ClusterView{
          [this](const std::string& ns) -> std::optional<json::value> {
            auto got = get(*api::findByKind("v1", "Namespace"), "", ns);
            if (!got) return std::nullopt;
            return std::move(*got);
          },
          [this](const std::string& ns) {
            auto pods = list(*api::findByKind("v1", "Pod"), ns, ListOptions{});
            return pods ? std::move(pods->items) : std::vector<json::value>{};
          }}),
      quota_(QuotaAdmission::ClusterView{[this](const api::ResourceType& type, const std::string& ns) {
        auto items = list(type, ns, ListOptions{});
        return items ? std::move(items->items) : std::vector<json::value>{};
      }}) {}

// DefaultStorageClass admission: a claim that names no class gets the default one (the class
// annotated storageclass.kubernetes.io/is-default-class=true); none stays without a class.
void Registry::defaultStorageClass(json::value& claim) {
  const json::value* spec = api::valueAt(claim, "spec");
  if (!spec || !spec->is_object() || spec->get_object().contains("storageClassName")) return;
  auto classes = list(*api::findByKind("storage.k8s.io/v1", "StorageClass"), "", {});
  if (!classes) return;
  for (const auto& c : classes->items)
    if (const json::value* a = api::valueAt(c, "metadata.annotations"); a && a->is_object())
      if (const json::value* d = a->get_object().if_contains("storageclass.kubernetes.io/is-default-class"); d && *d == json::value("true")) {
        api::ensurePath(claim, "spec.storageClassName") = api::stringAt(c, "metadata.name");
        return;
      }
}

void Registry::defaultIngressClass(json::value& ingress) {
  if (!api::stringAt(ingress, "spec.ingressClassName").empty()) return;
  if (const json::value* a = api::valueAt(ingress, "metadata.annotations"); a && a->is_object() && a->get_object().contains("kubernetes.io/ingress.class"))
    return;
  auto classes = list(*api::findByKind("networking.k8s.io/v1", "IngressClass"), "", {});
  if (!classes) return;
  for (const auto& c : classes->items)
    if (const json::value* a = api::valueAt(c, "metadata.annotations"); a && a->is_object())
      if (const json::value* d = a->get_object().if_contains("ingressclass.kubernetes.io/is-default-class"); d && *d == json::value("true")) {
        if (!api::valueAt(ingress, "spec") || !api::valueAt(ingress, "spec")->is_object()) return;
        api::ensurePath(ingress, "spec.ingressClassName") = api::stringAt(c, "metadata.name");
        return;
      }
}

Status Registry::checkNamespace(const api::ResourceType& type, const std::string& ns) {
  if (!type.namespaced) return {};
  if (ns.empty()) return Error::badRequest("the namespace of the object is required for " + type.plural);
  const api::ResourceType* nsType = api::findByKind("v1", "Namespace");
  auto kv = store_.get(nsType->storageKey("", ns));
  if (!kv) return storeMiss(kv.error(), *nsType, ns);
  auto obj = parseStored(*kv);
  if (obj && api::valueAt(*obj, "metadata.deletionTimestamp"))
    return Error::forbidden(type.plural + " is forbidden: unable to create new content in namespace " + ns +
                            " because it is being terminated");
  return {};
}

namespace {

// A custom kind's unknown fields: pruned (Kubernetes drops them silently), a warning each when
// fieldValidation is Warn, refused when Strict.
Status pruneCustom(const api::ResourceType& type, json::value& object, const WriteOptions& options) {
  if (!type.custom->schema) return {};
  std::vector<std::string> pruned;
  api::pruneUnknown(*type.custom->schema, object, pruned);
  if (pruned.empty()) return {};
  if (options.fieldValidation == api::FieldValidation::Strict) {
    Error e = Error::badRequest("");
    std::string msg = "strict decoding error: ";
    for (size_t i = 0; i < pruned.size(); ++i) {
      msg += (i ? ", " : "") + std::string("unknown field ") + quoted(pruned[i]);
      e.causes.push_back({"FieldValueInvalid", "unknown field", pruned[i]});
    }
    e.message = msg;
    return e;
  }
  if (options.fieldValidation == api::FieldValidation::Warn && options.warnings)
    for (const auto& f : pruned) options.warnings->push_back("unknown field " + quoted(f));
  return {};
}

// Shared checks for any object arriving in a request: kind and apiVersion, schema, and size.
Status admitShape(const api::ResourceType& type, json::value& object, const WriteOptions& options) {
  if (!object.is_object()) return Error::badRequest("the request body must be a JSON or YAML object");
  auto& o = object.get_object();
  std::string kind = api::stringAt(object, "kind"), apiVersion = api::stringAt(object, "apiVersion");
  if (!kind.empty() && kind != type.kind)
    return Error::badRequest("the kind of the object (" + kind + ") does not match the endpoint (" + type.kind +
                             "); send it to its own resource path or fix `kind`");
  if (!apiVersion.empty() && apiVersion != type.apiVersion())
    return Error::badRequest("the apiVersion of the object (" + apiVersion + ") is not served for " + type.kind +
                             "; use " + type.apiVersion());
  o["kind"] = type.kind;
  o["apiVersion"] = type.apiVersion();
  if (type.custom) return pruneCustom(type, object, options);
  if (const api::TypeRef* schema = api::schemaForKind(type.kind)) {
    api::SchemaReport report = api::checkSchema(*schema, object, options.fieldValidation);
    if (!report.typeErrors.empty()) {
      std::string msg = type.kind + " in version \"" + type.version + "\" cannot be handled as a " + type.kind + ": ";
      for (size_t i = 0; i < report.typeErrors.size(); ++i)
        msg += (i ? "; " : "") + report.typeErrors[i].field + ": " + report.typeErrors[i].message;
      Error e = Error::badRequest(msg);
      e.causes = report.typeErrors;
      return e;
    }
    if (!report.unknownFields.empty()) {
      if (options.fieldValidation == api::FieldValidation::Strict) {
        std::string msg = "strict decoding error: ";
        Error e = Error::badRequest("");
        for (size_t i = 0; i < report.unknownFields.size(); ++i) {
          msg += (i ? ", " : "") + std::string("unknown field ") + quoted(report.unknownFields[i]);
          e.causes.push_back({"FieldValueInvalid", "unknown field", report.unknownFields[i]});
        }
        e.message = msg;
        return e;
      }
      if (options.fieldValidation == api::FieldValidation::Warn && options.warnings)
        for (const auto& f : report.unknownFields) options.warnings->push_back("unknown field " + quoted(f));
    }
  }
  return {};
}

// metadata.managedFields after an update: what an apply computed stays; managedFields the request
// changed itself are taken as given (kubectl moves client-side apply's ownership that way);
// otherwise the writer gets the fields it changed, and in-process writers (no manager) leave
// ownership as it was.
void recordOwnership(const api::ResourceType& type, const json::value& current, json::value& object, const std::string& subresource,
                     const WriteOptions& options, bool applying) {
  if (applying) return;
  auto& meta = api::metadataOf(object);
  const json::value* prior = api::valueAt(current, "metadata.managedFields");
  const json::value* given = meta.if_contains("managedFields");
  if (given && (!prior || *given != *prior)) return;
  if (!options.fieldManager.empty()) {
    json::value owned = api::managedFieldsAfterUpdate(type, &current, object, {options.fieldManager, type.apiVersion(), subresource == "status" ? "status" : "", ""});
    if (owned.is_array() && owned.get_array().empty()) meta.erase("managedFields");
    else meta["managedFields"] = std::move(owned);
  } else if (prior) {
    meta["managedFields"] = *prior;
  } else {
    meta.erase("managedFields");
  }
}

// Secret.stringData is a write-only convenience: merged into data, base64-encoded.
void foldStringData(const api::ResourceType& type, json::value& object) {
  if (!type.builtin("Secret")) return;
  auto& o = object.get_object();
  auto* sd = o.if_contains("stringData");
  if (!sd) return;
  if (sd->is_object()) {
    json::value& data = o["data"];
    if (!data.is_object()) data = json::object();
    for (const auto& kv : sd->get_object())
      if (kv.value().is_string()) data.get_object()[kv.key()] = base64Encode(kv.value().get_string());
  }
  o.erase("stringData");
}

}  // namespace

Result<json::value> Registry::create(const api::ResourceType& type, const std::string& ns, json::value object,
                                     const WriteOptions& options) {
  return createObject(type, ns, std::move(object), options, nullptr);
}

Result<json::value> Registry::createObject(const api::ResourceType& type, const std::string& ns, json::value object,
                                           const WriteOptions& options, const json::value* appliedFields) {
  if (Status s = admitShape(type, object, options); !s) return s.error();
  auto& meta = api::metadataOf(object);
  std::string bodyNs = api::stringAt(object, "metadata.namespace");
  if (type.namespaced) {
    if (!bodyNs.empty() && bodyNs != ns)
      return Error::badRequest("the namespace of the provided object (" + bodyNs +
                               ") does not match the namespace sent on the request (" + ns + ")");
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  if (Status s = checkNamespace(type, ns); !s) return s.error();
  std::string name = api::stringAt(object, "metadata.name");
  std::string generateName = api::stringAt(object, "metadata.generateName");
  if (name.empty() && generateName.empty())
    return api::invalidObject(type, "", {{"FieldValueRequired", "Required value: name or generateName is required", "metadata.name"}});
  meta["uid"] = api::newUid();
  meta["creationTimestamp"] = api::rfc3339Now();
  meta["generation"] = 1;
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("managedFields");
  meta.erase("selfLink");
  foldStringData(type, object);
  if (type.builtin("Pod"))
    if (Status s = resolvePriority(object); !s) return s.error();
  if (type.builtin("Ingress")) defaultIngressClass(object);
  if (type.builtin("PersistentVolumeClaim")) defaultStorageClass(object);
  if (Status s = quota_.limitRanges(type, ns, object); !s) return s.error();
  api::applyDefaults(type, object);
  std::unique_lock<std::mutex> quotaHeld;  // held until the write: no two creates take the last unit
  // A generated name may collide; Kubernetes retries too.
  const bool generated = name.empty();
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (generated) name = generateName + api::randomSuffix();
    api::metadataOf(object)["name"] = name;  // re-fetched: defaulting may have moved metadata
    auto causes = api::validateObject(type, object, nullptr);
    for (auto& c : rbacCauses(type, object, nullptr)) causes.push_back(std::move(c));
    if (!causes.empty()) return api::invalidObject(type, name, std::move(causes));
    if (attempt == 0) {
      if (Status s = podSecurity_.admit(type, ns, object, nullptr, "", options.warnings); !s) return s.error();
      if (options.admitWrite)
        if (Status s = options.admitWrite(object); !s) return s.error();
      if (Status s = quota_.quota(type, ns, object, quotaHeld); !s) return s.error();
    }
    if (appliedFields) api::metadataOf(object)["managedFields"] = *appliedFields;
    else if (!options.fieldManager.empty())
      api::metadataOf(object)["managedFields"] = api::managedFieldsAfterUpdate(type, nullptr, object, {options.fieldManager, type.apiVersion(), "", ""});
    std::string key = type.storageKey(ns, name);
    if (type.builtin("Service") && !options.dryRun)
      if (Status s = allocateServiceAddresses(object); !s) return s.error();
    if (options.dryRun) {
      if (store_.get(key)) return Error::alreadyExists(qualifiedResource(type) + " " + quoted(name) + " already exists");
      return object;
    }
    // The builder runs on the store's single commit thread: it only serializes. `object` then
    // holds the resourceVersion of the last value built, which is the one stored.
    auto kv = store_.create(key, [&](int64_t rev) {
      std::string bytes = serializeWithRevision(object, rev);
      if (bytes.size() > kMaxObjectBytes) throw std::length_error("object is larger than 1.5 MiB");
      return bytes;
    });
    if (kv) return object;
    if (type.builtin("Service")) releaseServiceAddresses(object);
    if (kv.error().reason == "AlreadyExists") {
      if (generated) continue;
      return Error::alreadyExists(qualifiedResource(type) + " " + quoted(name) + " already exists");
    }
    if (kv.error().message.find("larger than") != std::string::npos)
      return Error{413, "RequestEntityTooLarge", "the object is larger than the 1.5 MiB limit", {}};
    return kv.error();
  }
  return Error::alreadyExists(qualifiedResource(type) + " with generateName " + quoted(generateName) + " kept colliding");
}

Result<json::value> Registry::get(const api::ResourceType& type, const std::string& ns, const std::string& name) {
  auto kv = store_.get(type.storageKey(ns, name));
  if (!kv) return storeMiss(kv.error(), type, name);
  return parseStored(*kv);
}

Result<ListResult> Registry::list(const api::ResourceType& type, const std::string& ns, const ListOptions& options,
                                  bool parse) {
  std::string prefix = type.namespaced && !ns.empty() ? type.storagePrefix() + ns + "/" : type.storagePrefix();
  std::string startAfter;
  int64_t tokenRevision = 0;
  if (!options.continueToken.empty()) {
    auto decoded = base64Decode(options.continueToken);
    auto token = decoded ? api::decodeJson(*decoded) : Result<json::value>(Error::badRequest(""));
    if (!token || !token->is_object())
      return Error::badRequest("invalid continue token; start the list again without `continue`");
    startAfter = api::stringAt(*token, "start");
    if (auto* rv = token->get_object().if_contains("rv"); rv && rv->is_int64()) tokenRevision = rv->get_int64();
    if (!startAfter.starts_with(prefix)) return Error::badRequest("continue token does not belong to this list");
    if (tokenRevision && tokenRevision < store_.compactedRevision())
      return Error::gone("the provided continue parameter is too old to display a consistent list result. You can "
                         "start a new list without the continue parameter");
  }
  ListResult out;
  bool filtering = !options.labels.empty() || !options.fields.empty();
  // A field selector on metadata.name reads one key instead of the whole range.
  const std::string* byName = options.fields.equalityValue("metadata.name");
  std::string lastKey;
  bool more = false;
  if (byName && (!type.namespaced || !ns.empty())) {
    auto kv = store_.get(type.storageKey(ns, *byName));
    out.revision = store_.revision();
    if (kv) {
      auto obj = parseStored(*kv);
      if (!obj) return obj.error();
      if (options.labels.matches(api::valueAt(*obj, "metadata.labels")) && options.fields.matches(*obj))
        out.items.push_back(std::move(*obj));
    }
  } else {
    size_t batch = options.limit ? std::max<size_t>(options.limit, 256) : 0;
    std::string cursor = startAfter;
    while (true) {
      auto ranged = store_.range(prefix, cursor, filtering ? batch : options.limit);
      if (!ranged) return ranged.error();
      store::RangeResult& r = *ranged;
      if (!out.revision) out.revision = r.revision;
      for (auto& kv : r.items) {
        cursor = kv.key;
        size_t have = out.items.size() + out.rawItems.size();
        if (options.limit && have == options.limit) {
          more = true;
          break;
        }
        if (!filtering && !parse) {
          out.rawItems.push_back(kv.value);
          lastKey = kv.key;
          continue;
        }
        auto obj = parseStored(kv);
        if (!obj) return obj.error();
        if (filtering && !(options.labels.matches(api::valueAt(*obj, "metadata.labels")) && options.fields.matches(*obj)))
          continue;
        out.items.push_back(std::move(*obj));
        lastKey = kv.key;
      }
      if (more) break;
      if (!r.more) break;
      if (!filtering) {
        more = true;
        break;
      }
    }
  }
  if (more && !lastKey.empty()) {
    json::object token{{"v", "meta.k8s.io/v1"}, {"rv", tokenRevision ? tokenRevision : out.revision}, {"start", lastKey}};
    out.continueToken = base64Encode(json::serialize(token), true);
  }
  return out;
}

Result<json::value> Registry::writeUpdate(const api::ResourceType& type, const std::string& key,
                                          int64_t expectedRevision, json::value object, bool dryRun) {
  if (dryRun) return object;
  // As in create: the builder only serializes (it runs on the store's commit thread).
  auto kv = store_.update(key, expectedRevision, [&](int64_t rev) {
    std::string bytes = serializeWithRevision(object, rev);
    if (bytes.size() > kMaxObjectBytes) throw std::length_error("object is larger than 1.5 MiB");
    return bytes;
  });
  if (!kv) {
    if (kv.error().message.find("larger than") != std::string::npos)
      return Error{413, "RequestEntityTooLarge", "the object is larger than the 1.5 MiB limit", {}};
    if (kv.error().reason == "NotFound") return notFound(type, api::stringAt(object, "metadata.name"));
    return kv.error();
  }
  return object;
}

Result<json::value> Registry::updateWith(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                         const std::string& subresource, const WriteOptions& options, bool retry,
                                         const std::function<Result<json::value>(const json::value&)>& mutate, bool applying) {
  std::string key = type.storageKey(ns, name);
  for (int attempt = 0;; ++attempt) {
    auto kv = store_.get(key);
    if (!kv) return storeMiss(kv.error(), type, name);
    auto current = parseStored(*kv);
    if (!current) return current.error();
    auto next = mutate(*current);
    if (!next) return next.error();
    json::value object = std::move(*next);
    if (Status s = admitShape(type, object, options); !s) return s.error();
    std::string bodyName = api::stringAt(object, "metadata.name");
    if (!bodyName.empty() && bodyName != name)
      return Error::badRequest("the name of the object (" + bodyName + ") does not match the name on the URL (" + name + ")");
    std::string bodyNs = api::stringAt(object, "metadata.namespace");
    if (type.namespaced && !bodyNs.empty() && bodyNs != ns)
      return Error::badRequest("the namespace of the provided object (" + bodyNs +
                               ") does not match the namespace sent on the request (" + ns + ")");
    auto& meta = api::metadataOf(object);
    const json::object& oldMeta = current->get_object().at("metadata").get_object();
    int64_t expected = kv->modRevision;
    std::string bodyRv = api::stringAt(object, "metadata.resourceVersion");
    if (!bodyRv.empty()) {
      int64_t rv = parseRevision(bodyRv);
      if (rv < 0) return Error::badRequest("metadata.resourceVersion " + quoted(bodyRv) + " is not a valid resource version");
      if (rv != kv->modRevision)
        return Error::conflict("Operation cannot be fulfilled on " + qualifiedResource(type) + " " + quoted(name) +
                               ": the object has been modified; please apply your changes to the latest version and try again");
    }
    // Fields the server owns.
    meta["name"] = name;
    if (type.namespaced) meta["namespace"] = ns;
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"}) {
      if (auto* v = oldMeta.if_contains(f)) meta[f] = *v;
      else meta.erase(f);
    }
    meta.erase("selfLink");
    auto& o = object.get_object();
    if (subresource == "approval") {
      // /approval (CertificateSigningRequest) changes the approval conditions only.
      json::value merged = *current;
      json::value& conditions = api::ensurePath(merged, "status.conditions");
      const json::value* given = api::valueAt(object, "status.conditions");
      conditions = given ? *given : json::array();
      object = std::move(merged);
    } else if (subresource == "status") {
      // /status changes status only (and nothing else of the stored object).
      json::value merged = *current;
      if (auto* st = o.if_contains("status")) merged.get_object()["status"] = *st;
      else merged.get_object().erase("status");
      object = std::move(merged);
    } else if (type.hasStatus && subresource != "binding") {
      if (auto* st = current->get_object().if_contains("status")) o["status"] = *st;
      else o.erase("status");
    }
    foldStringData(type, object);
    api::applyDefaults(type, object);
    recordOwnership(type, *current, object, subresource, options, applying);
    if (specPart(object) != specPart(*current)) {
      int64_t gen = 1;
      if (auto* g = oldMeta.if_contains("generation"); g && g->is_int64()) gen = g->get_int64();
      api::metadataOf(object)["generation"] = gen + 1;
    }
    auto causes = api::validateObject(type, object, &*current);
    for (auto& c : rbacCauses(type, object, &*current)) causes.push_back(std::move(c));
    if (!causes.empty()) return api::invalidObject(type, name, std::move(causes));
    if (Status s = podSecurity_.admit(type, ns, object, &*current, subresource, options.warnings); !s) return s.error();
    if (options.admitWrite)
      if (Status s = options.admitWrite(object); !s) return s.error();
    // Removing the last finalizer of an object being deleted completes the deletion.
    const json::value* fin = api::valueAt(object, "metadata.finalizers");
    bool noFinalizers = !fin || !fin->is_array() || fin->get_array().empty();
    if (type.builtin("Namespace")) {
      // Namespaces also wait for spec.finalizers (the namespace controller's "kubernetes").
      const json::value* nf = api::valueAt(object, "spec.finalizers");
      noFinalizers = noFinalizers && (!nf || !nf->is_array() || nf->get_array().empty());
    }
    if (api::valueAt(object, "metadata.deletionTimestamp") && noFinalizers &&
        !(type.builtin("Pod") && !api::stringAt(object, "spec.nodeName").empty())) {
      if (options.dryRun) return object;
      auto removed = store_.remove(key, expected);
      if (!removed) {
        if (retry && removed.error().reason == "Conflict" && attempt < 16) continue;
        return removed.error();
      }
      api::metadataOf(object)["resourceVersion"] = std::to_string(removed->modRevision);
      return object;
    }
    // A write that changes nothing is not a write: the resourceVersion stays and no event fires.
    api::metadataOf(object)["resourceVersion"] = api::stringAt(*current, "metadata.resourceVersion");
    if (object == *current) return object;
    auto written = writeUpdate(type, key, expected, std::move(object), options.dryRun);
    if (!written && written.error().reason == "Conflict") {
      if (retry && attempt < 16) continue;
      return Error::conflict("Operation cannot be fulfilled on " + qualifiedResource(type) + " " + quoted(name) +
                             ": the object has been modified; please apply your changes to the latest version and try again");
    }
    return written;
  }
}

Result<json::value> Registry::update(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                     json::value object, const std::string& subresource, const WriteOptions& options) {
  return updateWith(type, ns, name, subresource, options, false,
                    [&](const json::value&) -> Result<json::value> { return object; });
}

Result<json::value> Registry::bind(const std::string& ns, const std::string& name, const std::string& node) {
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  return updateWith(podType, ns, name, "binding", {}, true, [&](const json::value& current) -> Result<json::value> {
    std::string bound = api::stringAt(current, "spec.nodeName");
    if (!bound.empty())
      return Error::conflict("pod " + name + " is already assigned to node \"" + bound + "\"");
    if (api::valueAt(current, "metadata.deletionTimestamp"))
      return Error::conflict("pod " + name + " is being deleted, cannot be assigned to a node");
    json::value next = current;
    api::ensurePath(next, "spec.nodeName") = node;
    json::value& conds = api::ensurePath(next, "status.conditions");
    if (!conds.is_array()) conds = json::array();
    auto& arr = conds.get_array();
    arr.erase(std::remove_if(arr.begin(), arr.end(), [](const json::value& c) { return api::stringAt(c, "type") == "PodScheduled"; }),
              arr.end());
    arr.push_back(json::object{{"type", "PodScheduled"}, {"status", "True"}, {"lastProbeTime", nullptr},
                               {"lastTransitionTime", api::rfc3339Now()}});
    return next;
  });
}

Result<json::value> Registry::patch(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                    PatchType patchType, const json::value& patchBody, const std::string& subresource,
                                    const WriteOptions& options) {
  if (patchType == PatchType::Apply) return apply(type, ns, name, patchBody, subresource, options);
  // A patch that names a resourceVersion is a precondition: no silent retry past it.
  bool pinned = patchBody.is_object() && !api::stringAt(patchBody, "metadata.resourceVersion").empty();
  return updateWith(type, ns, name, subresource, options, !pinned, [&](const json::value& current) -> Result<json::value> {
    switch (patchType) {
      case PatchType::Merge:
        if (!patchBody.is_object()) return Error::badRequest("a merge patch must be a JSON object");
        return api::applyMergePatch(current, patchBody);
      case PatchType::Json:
        return api::applyJsonPatch(current, patchBody);
      case PatchType::Apply:
        return Error::internal("apply is handled before the patch types that edit the stored object");
      case PatchType::Strategic:
        if (type.custom)  // as kube-apiserver: custom kinds have no patch strategies
          return Error{415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, "
                       "application/merge-patch+json, application/apply-patch+yaml", {}};
        return api::applyStrategicMergePatch(current, patchBody, api::schemaForKind(type.kind));
    }
    return Error::badRequest("unknown patch type");
  });
}

Result<json::value> Registry::apply(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                    const json::value& applied, const std::string& subresource, const WriteOptions& options) {
  if (options.fieldManager.empty())
    return Error::badRequest("PATCH requests with application/apply-patch+yaml need a fieldManager (kubectl apply --server-side sends one)");
  if (!applied.is_object()) return Error::badRequest("an apply configuration must be a YAML or JSON object");
  if (api::stringAt(applied, "apiVersion").empty() || api::stringAt(applied, "kind").empty())
    return Error::badRequest("an apply configuration needs apiVersion and kind");
  std::string bodyName = api::stringAt(applied, "metadata.name");
  if (!bodyName.empty() && bodyName != name)
    return Error::badRequest("the name of the object (" + bodyName + ") does not match the name on the URL (" + name + ")");
  api::ManagedWrite write{options.fieldManager, type.apiVersion(), subresource == "status" ? "status" : "", ""};
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto existing = store_.get(type.storageKey(ns, name));
    if (!existing && existing.error().reason != "NotFound") return existing.error();
    if (existing) {
      auto r = updateWith(type, ns, name, subresource, options, true,
                          [&](const json::value& current) { return api::applyConfiguration(type, &current, applied, write, options.force); }, true);
      if (r || r.error().reason != "NotFound") return r;
      continue;  // deleted meanwhile: create it
    }
    // Apply to an object that does not exist creates it, owned by the applier.
    json::value object = applied;
    api::metadataOf(object)["name"] = name;
    auto made = api::applyConfiguration(type, nullptr, object, write, options.force);
    if (!made) return made.error();
    json::value owned = *api::valueAt(*made, "metadata.managedFields");
    api::metadataOf(*made).erase("managedFields");
    auto r = createObject(type, ns, std::move(*made), options, &owned);
    if (r || r.error().reason != "AlreadyExists") return r;  // created meanwhile: apply to it
  }
  return Error::conflict("the object kept changing between being read and written; apply again");
}

Result<json::value> Registry::remove(const api::ResourceType& type, const std::string& ns, const std::string& name,
                                     const DeleteOptions& options) {
  std::string key = type.storageKey(ns, name);
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto kv = store_.get(key);
    if (!kv) return storeMiss(kv.error(), type, name);
    auto current = parseStored(*kv);
    if (!current) return current.error();
    if (!options.preconditionUid.empty() && options.preconditionUid != api::stringAt(*current, "metadata.uid"))
      return Error::conflict("Precondition failed: UID in precondition: " + options.preconditionUid +
                             ", UID in object meta: " + api::stringAt(*current, "metadata.uid"));
    if (!options.preconditionResourceVersion.empty() &&
        options.preconditionResourceVersion != api::stringAt(*current, "metadata.resourceVersion"))
      return Error::conflict("Precondition failed: ResourceVersion in precondition: " + options.preconditionResourceVersion +
                             ", ResourceVersion in object meta: " + api::stringAt(*current, "metadata.resourceVersion"));
    json::value object = *current;
    auto& meta = api::metadataOf(object);
    bool alreadyDeleting = meta.contains("deletionTimestamp");
    // Orphan and Foreground propagation hold the object with a finalizer the garbage collector
    // removes once dependents are orphaned or gone.
    if (!alreadyDeleting && (options.propagationPolicy == "Orphan" || options.propagationPolicy == "Foreground")) {
      json::value& fins = meta["finalizers"];
      if (!fins.is_array()) fins = json::array();
      std::string f = options.propagationPolicy == "Orphan" ? "orphan" : "foregroundDeletion";
      if (std::find(fins.get_array().begin(), fins.get_array().end(), json::value(f)) == fins.get_array().end())
        fins.get_array().push_back(json::string(f));
    }
    const json::value* fin = api::valueAt(object, "metadata.finalizers");
    bool hasFinalizers = fin && fin->is_array() && !fin->get_array().empty();
    bool namespaceFinalizer = false;
    if (type.builtin("Namespace")) {
      const json::value* nf = api::valueAt(object, "spec.finalizers");
      namespaceFinalizer = nf && nf->is_array() && !nf->get_array().empty();
    }
    // Pods on a node stop gracefully: the node's agent finishes the deletion after the grace period.
    int64_t grace = 0;
    bool graceful = false;
    if (type.builtin("Pod") && !api::stringAt(object, "spec.nodeName").empty()) {
      grace = 30;
      if (auto* g = api::valueAt(object, "spec.terminationGracePeriodSeconds"); g && g->is_int64()) grace = g->get_int64();
      if (options.gracePeriodSeconds) grace = *options.gracePeriodSeconds;
      graceful = grace > 0;
    }
    if (hasFinalizers || namespaceFinalizer || graceful) {
      if (alreadyDeleting && !graceful) return object;
      if (alreadyDeleting && graceful) {
        // A shorter grace period may replace a longer one.
        auto* g = meta.if_contains("deletionGracePeriodSeconds");
        if (g && g->is_int64() && g->get_int64() <= grace) return object;
      }
      meta["deletionTimestamp"] = api::rfc3339(int64_t(std::time(nullptr)) + (graceful ? grace : 0));
      meta["deletionGracePeriodSeconds"] = graceful ? grace : 0;
      if (type.builtin("Namespace")) api::ensurePath(object, "status.phase") = "Terminating";
      auto written = writeUpdate(type, key, kv->modRevision, std::move(object), false);
      if (!written && written.error().reason == "Conflict") continue;
      return written;
    }
    auto removed = store_.remove(key, kv->modRevision);
    if (!removed) {
      if (removed.error().reason == "Conflict") continue;
      if (removed.error().reason == "NotFound") return notFound(type, name);
      return removed.error();
    }
    if (type.builtin("Service")) releaseServiceAddresses(object);
    return object;
  }
  return Error::conflict("Operation cannot be fulfilled on " + qualifiedResource(type) + " " + quoted(name) +
                         ": the object kept changing during deletion; try again");
}

Result<std::unique_ptr<store::Watch>> Registry::watch(const api::ResourceType& type, const std::string& ns,
                                                      api::LabelSelector labels, api::FieldSelector fields,
                                                      int64_t afterRevision, std::function<void(WatchEvent)> sink,
                                                      int64_t* startRevision) {
  std::string prefix = type.namespaced && !ns.empty() ? type.storagePrefix() + ns + "/" : type.storagePrefix();
  // Every watcher of an event decodes it through one cache, so a thousand filtered watchers
  // parse each change once, not a thousand times.
  auto decoded = decoded_;
  auto decode = [decoded](const store::Bytes& bytes) {
    return decoded->get(bytes, 0, [&]() -> std::shared_ptr<const json::value> {
      auto obj = api::decodeJson(*bytes);
      return obj ? std::make_shared<const json::value>(std::move(*obj)) : nullptr;
    });
  };
  auto matches = [labels, fields, decode](const store::Bytes& bytes) {
    auto o = decode(bytes);
    return o && labels.matches(api::valueAt(*o, "metadata.labels")) && fields.matches(*o);
  };
  bool filtering = !labels.empty() || !fields.empty();
  int64_t from = afterRevision;
  if (from == 0) {
    // "Most recent": the current state as ADDED events, then changes after it.
    auto r = store_.range(prefix, "", 0);
    if (!r) return r.error();
    for (auto& kv : r->items)
      if (!filtering || matches(kv.value)) sink(WatchEvent{"ADDED", nullptr, kv.modRevision, kv.value});
    from = r->revision;
  }
  if (startRevision) *startRevision = from;
  auto deletions = deletions_;
  return store_.watch(prefix, from, [sink, matches, filtering, deletions, decode](const store::Event& e) {
    if (e.type == store::EventType::Delete) {
      if (filtering && !matches(e.kv.value)) return;
      // A deleted object reports the deletion's revision: re-encoded once for every watcher.
      auto bytes = deletions->get(e.kv.value, e.revision, [&]() -> std::shared_ptr<const std::string> {
        auto obj = decode(e.kv.value);
        if (!obj) return nullptr;
        json::value copy = *obj;
        api::metadataOf(copy)["resourceVersion"] = std::to_string(e.revision);
        return std::make_shared<const std::string>(json::serialize(copy));
      });
      if (bytes) sink(WatchEvent{"DELETED", nullptr, e.revision, bytes});
      return;
    }
    if (!filtering) {
      sink(WatchEvent{e.created ? "ADDED" : "MODIFIED", nullptr, e.revision, e.kv.value});
      return;
    }
    bool now = matches(e.kv.value);
    bool before = e.previousValue && matches(e.previousValue);
    if (now && (e.created || !before)) sink(WatchEvent{"ADDED", nullptr, e.revision, e.kv.value});
    else if (now) sink(WatchEvent{"MODIFIED", nullptr, e.revision, e.kv.value});
    else if (before) sink(WatchEvent{"DELETED", nullptr, e.revision, e.kv.value});
  });
}

namespace {
bool parseCidr(const std::string& cidr, uint32_t& base, uint32_t& size) {
  unsigned a, b, c, d, bits;
  if (std::sscanf(cidr.c_str(), "%u.%u.%u.%u/%u", &a, &b, &c, &d, &bits) != 5 || bits < 8 || bits > 30) return false;
  uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
  base = ((a << 24) | (b << 16) | (c << 8) | d) & mask;
  size = ~mask + 1;
  return true;
}
std::string ipText(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." + std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}
}  // namespace

Status Registry::allocateServiceAddresses(json::value& service) {
  std::string type = api::stringAt(service, "spec.type");
  if (type == "ExternalName") return {};
  auto claim = [&](const std::string& key) { return store_.create(key, [](int64_t) { return std::string("{}"); }).ok(); };
  std::string ip = api::stringAt(service, "spec.clusterIP");
  uint32_t base = 0, size = 0;
  if (!parseCidr(options_.serviceCidr, base, size)) return Error::internal("bad service CIDR " + options_.serviceCidr);
  std::vector<std::string> claimed;
  auto rollback = [&] {
    for (const auto& k : claimed) (void)store_.remove(k, 0);
  };
  if (ip != "None") {
    if (!ip.empty()) {
      unsigned a, b, c, d;
      uint32_t want = std::sscanf(ip.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) == 4 ? (a << 24 | b << 16 | c << 8 | d) : 0;
      if (want <= base || want >= base + size - 1)
        return api::invalidObject(*api::findByKind("v1", "Service"), api::stringAt(service, "metadata.name"),
                                  {{"FieldValueInvalid", "Invalid value: \"" + ip + "\": provided IP is not in the valid range. The range of valid IPs is " + options_.serviceCidr, "spec.clusterIPs"}});
      if (!claim("/registry/ranges/serviceips/" + ip))
        return api::invalidObject(*api::findByKind("v1", "Service"), api::stringAt(service, "metadata.name"),
                                  {{"FieldValueInvalid", "Invalid value: \"" + ip + "\": provided IP is already allocated", "spec.clusterIPs"}});
      claimed.push_back("/registry/ranges/serviceips/" + ip);
    } else {
      // Random start, then the next free address: few collisions until the range fills up.
      uint32_t start = uint32_t(std::hash<std::string>{}(api::newUid())) % (size - 2);
      for (uint32_t i = 0; i < size - 2 && ip.empty(); ++i) {
        std::string candidate = ipText(base + 1 + (start + i) % (size - 2));
        if (claim("/registry/ranges/serviceips/" + candidate)) ip = candidate;
      }
      if (ip.empty()) return Error{507, "InternalError", "the service IP range " + options_.serviceCidr + " is full", {}};
      claimed.push_back("/registry/ranges/serviceips/" + ip);
    }
    api::ensurePath(service, "spec.clusterIP") = ip;
    api::ensurePath(service, "spec.clusterIPs") = json::array{json::string(ip)};
    api::ensurePath(service, "spec.ipFamilies") = json::array{"IPv4"};
    api::ensurePath(service, "spec.ipFamilyPolicy") = "SingleStack";
  }
  if (type == "NodePort" || type == "LoadBalancer") {
    json::value* ports = nullptr;
    if (auto* spec = service.as_object().if_contains("spec"); spec && spec->is_object()) ports = spec->as_object().if_contains("ports");
    if (ports && ports->is_array())
      for (auto& p : ports->get_array()) {
        auto* np = p.as_object().if_contains("nodePort");
        if (np && np->is_int64()) {
          std::string k = "/registry/ranges/servicenodeports/" + std::to_string(np->get_int64());
          if (!claim(k)) {
            rollback();
            return api::invalidObject(*api::findByKind("v1", "Service"), api::stringAt(service, "metadata.name"),
                                      {{"FieldValueInvalid", "Invalid value: " + std::to_string(np->get_int64()) + ": provided port is already allocated", "spec.ports.nodePort"}});
          }
          claimed.push_back(k);
          continue;
        }
        int span = options_.nodePortMax - options_.nodePortMin + 1;
        int start = int(std::hash<std::string>{}(api::newUid()) % size_t(span));
        bool got = false;
        for (int i = 0; i < span && !got; ++i) {
          int port = options_.nodePortMin + (start + i) % span;
          std::string k = "/registry/ranges/servicenodeports/" + std::to_string(port);
          if (claim(k)) {
            p.as_object()["nodePort"] = port;
            claimed.push_back(k);
            got = true;
          }
        }
        if (!got) {
          rollback();
          return Error{507, "InternalError", "no node ports left in " + std::to_string(options_.nodePortMin) + "-" + std::to_string(options_.nodePortMax), {}};
        }
      }
  }
  return {};
}

void Registry::releaseServiceAddresses(const json::value& service) {
  std::string ip = api::stringAt(service, "spec.clusterIP");
  if (!ip.empty() && ip != "None") (void)store_.remove("/registry/ranges/serviceips/" + ip, 0);
  if (const json::value* ports = api::valueAt(service, "spec.ports"); ports && ports->is_array())
    for (const auto& p : ports->get_array())
      if (const json::value* np = api::valueAt(p, "nodePort"); np && np->is_int64())
        (void)store_.remove("/registry/ranges/servicenodeports/" + std::to_string(np->get_int64()), 0);
}

Status Registry::resolvePriority(json::value& pod) {
  // The Priority admission plugin: priorityClassName (or the global default) sets spec.priority.
  const api::ResourceType& pcType = *api::findByKind("scheduling.k8s.io/v1", "PriorityClass");
  std::string name = api::stringAt(pod, "spec.priorityClassName");
  std::optional<json::value> cls;
  if (!name.empty()) {
    auto found = get(pcType, "", name);
    if (!found) return Error::forbidden("pods \"" + api::stringAt(pod, "metadata.name") + "\" is forbidden: no PriorityClass with name " + name + " was found");
    cls = std::move(*found);
  } else {
    auto all = list(pcType, "", {});
    if (all)
      for (auto& c : all->items)
        if (const json::value* g = api::valueAt(c, "globalDefault"); g && g->is_bool() && g->get_bool()) cls = c;
  }
  if (!cls) return {};
  const json::value* v = api::valueAt(*cls, "value");
  int64_t value = v && v->is_int64() ? v->get_int64() : 0;
  const json::value* given = api::valueAt(pod, "spec.priority");
  if (given && given->is_int64() && given->get_int64() != value)
    return Error::forbidden("the integer value of priority (" + std::to_string(given->get_int64()) +
                            ") must not be provided in pod spec; priority admission controller computed " + std::to_string(value) +
                            " from the given PriorityClass name");
  api::ensurePath(pod, "spec.priority") = value;
  api::ensurePath(pod, "spec.priorityClassName") = api::stringAt(*cls, "metadata.name");
  if (std::string pp = api::stringAt(*cls, "preemptionPolicy"); !pp.empty()) api::ensurePath(pod, "spec.preemptionPolicy") = pp;
  return {};
}

Result<size_t> Registry::rewriteAll(const api::ResourceType& type) {
  size_t written = 0;
  std::string after;
  for (;;) {
    auto page = store_.range(type.storagePrefix(), after, 500);
    if (!page) return page.error();
    for (const auto& kv : page->items) {
      auto object = api::decodeJson(*kv.value);
      if (!object) return Error::internal(kv.key + " does not hold JSON: " + object.error().message);
      auto w = writeUpdate(type, kv.key, kv.modRevision, std::move(*object), false);
      if (w) ++written;
      else if (w.error().reason != "Conflict" && w.error().reason != "NotFound") return w.error();  // changed meanwhile: rewritten by that write
    }
    if (!page->more || page->items.empty()) return written;
    after = page->items.back().key;
  }
}

Status Registry::bootstrap() {
  if (admissionWatches_.empty())
    for (const char* kind : {"ResourceQuota", "LimitRange"}) {
      std::string prefix = api::findByKind("v1", kind)->storagePrefix();
      auto current = store_.range(prefix, "", 0);
      if (!current) return current.error();
      for (const auto& kv : current->items) quota_.observe(kv.key, true);
      auto w = store_.watch(prefix, current->revision, [this](const store::Event& e) { quota_.observe(e.kv.key, e.type == store::EventType::Put); });
      if (!w) return w.error();
      admissionWatches_.push_back(std::move(*w));
    }
  const api::ResourceType& pcType = *api::findByKind("scheduling.k8s.io/v1", "PriorityClass");
  for (const auto& [name, value] : {std::pair{"system-node-critical", 2000001000}, std::pair{"system-cluster-critical", 2000000000}})
    if (!store_.get(pcType.storageKey("", name)))
      (void)create(pcType, "", json::object{{"metadata", json::object{{"name", name}}}, {"value", value},
                                             {"description", "Used for system critical pods that must not be moved from their current node."}});
  const api::ResourceType* nsType = api::findByKind("v1", "Namespace");
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (store_.get(nsType->storageKey("", name))) continue;
    auto r = create(*nsType, "", json::object{{"metadata", json::object{{"name", name}}}});
    if (!r && r.error().reason != "AlreadyExists") return r.error();
  }
  // The GatewayClass the node proxy serves, so Gateways have a class to name (as k3s ships one).
  const api::ResourceType& gcType = *api::findByKind("gateway.networking.k8s.io/v1", "GatewayClass");
  if (!store_.get(gcType.storageKey("", "skiff")))
    (void)create(gcType, "", json::object{{"metadata", json::object{{"name", "skiff"}}},
                                          {"spec", json::object{{"controllerName", "skiff.dev/gateway-controller"},
                                                                {"description", "skiff's node proxy: HTTP listeners on the node's ports"}}}});
  // The IngressClass the node proxy serves (ports 80 and 443 of every node), the default one as
  // k3s's bundled ingress controller is.
  const api::ResourceType& icType = *api::findByKind("networking.k8s.io/v1", "IngressClass");
  if (!store_.get(icType.storageKey("", "skiff")))
    (void)create(icType, "",
                 json::object{{"metadata", json::object{{"name", "skiff"},
                                                        {"annotations", json::object{{"ingressclass.kubernetes.io/is-default-class", "true"}}}}},
                              {"spec", json::object{{"controller", "skiff.dev/ingress-controller"}}}});
  // The node-local dynamic provisioner's class, the default as k3s's local-path is; claims bind
  // once a pod that uses them is scheduled (controller/volume_binding_controller.h).
  const api::ResourceType& scType = *api::findByKind("storage.k8s.io/v1", "StorageClass");
  if (!store_.get(scType.storageKey("", "local-path")))
    (void)create(scType, "",
                 json::object{{"metadata", json::object{{"name", "local-path"},
                                                        {"annotations", json::object{{"storageclass.kubernetes.io/is-default-class", "true"}}}}},
                              {"provisioner", "rancher.io/local-path"},
                              {"reclaimPolicy", "Delete"},
                              {"volumeBindingMode", "WaitForFirstConsumer"}});
  return {};
}

}  // namespace skiff::apiserver
