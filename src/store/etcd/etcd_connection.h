// The etcd store's way to the etcd members: one gRPC channel per member and a current member that
// every call goes to. A call that fails for a reason the member (or the way to it) is to blame
// for moves the current member on, so a dead member, or one cut off from the quorum, is left
// after one failed call. (A single channel with pick_first over all addresses would also leave a
// dead member, but stays with a live one that has no leader.)
//
// Threading: safe from any thread.
#pragma once
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/etcd/etcd_rpc.grpc.pb.h"

namespace skiff::store::etcd {

namespace pb = ::etcdserverpb;
using Clock = std::chrono::steady_clock;

class EtcdConnection {
 public:
  explicit EtcdConnection(const std::vector<std::string>& endpoints);

  // The member calls go to now; pass it back to failed() so a stale failure moves nothing.
  size_t current() const { return current_.load(); }
  pb::KV::Stub& kv(size_t member) { return *members_[member].kv; }
  pb::Watch::Stub& watch(size_t member) { return *members_[member].watch; }
  // The call through `member` failed the way `status` says: leave that member if it is to blame.
  void failed(size_t member, const grpc::Status& status);
  // Waits (briefly, within `deadline`) for `member`'s connection. gRPC's synchronous calls fail at
  // once on a channel that lost its connection, and nothing drives the reconnection then but a
  // poller every 5 s; waiting here drives it, and a member that cannot be reached soon is left.
  grpc::Status connect(size_t member, Clock::time_point deadline);

  // One unary KV call on the current member, ending by `deadline`.
  template <class Request, class Response>
  grpc::Status call(grpc::Status (pb::KV::Stub::*method)(grpc::ClientContext*, const Request&, Response*), const Request& request,
                    Response* response, Clock::time_point deadline) {
    size_t member = current();
    if (grpc::Status st = connect(member, deadline); !st.ok()) return st;
    grpc::ClientContext context;
    prepare(context, deadline);
    grpc::Status st = (kv(member).*method)(&context, request, response);
    if (!st.ok()) failed(member, st);
    return st;
  }

  // Makes `context` ready for a call that must end by `deadline` (none for the watch stream).
  static void prepare(grpc::ClientContext& context, std::optional<Clock::time_point> deadline);

  // Failures that say nothing about whether a write was applied (the member died, timed out,
  // lost its leader): the same call may be tried again, on another member.
  static bool outcomeUnknown(const grpc::Status& status);
  // A Store error for a failed call, naming the endpoints and what was being done.
  Error error(const grpc::Status& status, const std::string& doing) const;
  const std::string& endpoints() const { return endpointList_; }

 private:
  struct Member {
    std::string endpoint;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::KV::Stub> kv;
    std::unique_ptr<pb::Watch::Stub> watch;
  };
  std::vector<Member> members_;
  std::string endpointList_;
  std::atomic<size_t> current_{0};
};

// The first key after every key that starts with `prefix` (etcd's range_end for a prefix).
std::string prefixEnd(std::string prefix);

}  // namespace skiff::store::etcd
