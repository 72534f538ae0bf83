// LocalClient: the Client verbs on the Registry in this process (the single-machine fast path).
#pragma once
#include "apiserver/registry.h"
#include "client/client.h"

namespace skiff::client {

class LocalClient final : public Client {
 public:
  explicit LocalClient(apiserver::Registry& registry) : registry_(registry) {}

  Result<json::value> create(const api::ResourceType& type, const std::string& ns, json::value object,
                             const WriteOptions& options = {}) override {
    return registry_.create(type, ns, std::move(object), options);
  }
  Result<json::value> get(const api::ResourceType& type, const std::string& ns, const std::string& name) override {
    return registry_.get(type, ns, name);
  }
  Result<ListResult> list(const api::ResourceType& type, const std::string& ns, const ListOptions& options,
                          bool parse = true) override {
    return registry_.list(type, ns, options, parse);
  }
  Result<json::value> update(const api::ResourceType& type, const std::string& ns, const std::string& name,
                             json::value object, const std::string& subresource, const WriteOptions& options = {}) override {
    return registry_.update(type, ns, name, std::move(object), subresource, options);
  }
  Result<json::value> patch(const api::ResourceType& type, const std::string& ns, const std::string& name,
                            PatchType patchType, const json::value& patch, const std::string& subresource,
                            const WriteOptions& options = {}) override {
    return registry_.patch(type, ns, name, patchType, patch, subresource, options);
  }
  Result<json::value> bind(const std::string& ns, const std::string& name, const std::string& node) override {
    return registry_.bind(ns, name, node);
  }
  Result<json::value> remove(const api::ResourceType& type, const std::string& ns, const std::string& name,
                             const DeleteOptions& options = {}) override {
    return registry_.remove(type, ns, name, options);
  }
  Result<std::unique_ptr<Watch>> watch(const api::ResourceType& type, const std::string& ns, const api::LabelSelector& labels,
                                       const api::FieldSelector& fields, int64_t afterRevision, WatchSink sink) override {
    return registry_.watch(type, ns, labels, fields, afterRevision, std::move(sink));
  }

 private:
  apiserver::Registry& registry_;
};

}  // namespace skiff::client
