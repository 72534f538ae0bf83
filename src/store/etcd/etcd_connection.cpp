#include "store/etcd/etcd_connection.h"

namespace skiff::store::etcd {
namespace {

// gRPC takes wall-clock deadlines; skiff counts time on the steady clock.
std::chrono::system_clock::time_point toWallClock(Clock::time_point t) {
  return std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - Clock::now());
}

}  // namespace

EtcdConnection::EtcdConnection(const std::vector<std::string>& endpoints) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // a list of every object of a kind can be large
  // A member that stops answering (a hung host, a cut cable) is noticed within seconds, not
  // after the kernel's TCP timeouts. etcd refuses pings more often than every 5 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Reconnects soon after a member comes back; connecting to a silent host gives up after 1 s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  for (const std::string& endpoint : endpoints) {
    Member m;
    m.endpoint = endpoint;
    m.channel = grpc::CreateCustomChannel("dns:///" + endpoint, grpc::InsecureChannelCredentials(), args);
    m.kv = pb::KV::NewStub(m.channel);
    m.watch = pb::Watch::NewStub(m.channel);
    if (!endpointList_.empty()) endpointList_ += ",";
    endpointList_ += endpoint;
    members_.push_back(std::move(m));
  }
}

grpc::Status EtcdConnection::connect(size_t member, Clock::time_point deadline) {
  Member& m = members_[member];
  if (m.channel->GetState(true) == GRPC_CHANNEL_READY) return grpc::Status::OK;
  auto until = std::min(deadline, Clock::now() + std::chrono::seconds(2));
  if (m.channel->WaitForConnected(toWallClock(until))) return grpc::Status::OK;
  grpc::Status st(grpc::StatusCode::UNAVAILABLE, "cannot connect to the member at " + m.endpoint);
  failed(member, st);
  return st;
}

void EtcdConnection::failed(size_t member, const grpc::Status& status) {
  if (!outcomeUnknown(status) || members_.size() < 2) return;
  size_t expected = member;
  current_.compare_exchange_strong(expected, (member + 1) % members_.size());
}

void EtcdConnection::prepare(grpc::ClientContext& context, std::optional<Clock::time_point> deadline) {
  if (deadline) context.set_deadline(toWallClock(*deadline));
  // etcd's "require leader": a member without a leader refuses at once instead of answering
  // from a stale copy or holding the call (and a watch stream) open.
  context.AddMetadata("hasleader", "true");
}

bool EtcdConnection::outcomeUnknown(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::ABORTED:
      return true;
    default:
      return false;
  }
}

Error EtcdConnection::error(const grpc::Status& status, const std::string& doing) const {
  std::string what = "etcd at " + endpointList_ + " could not " + doing + ": " + status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Error::unavailable(what + " (is etcd running and reachable, with a quorum of its members?)");
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Error::unavailable(what + " (etcd is overloaded; try again)");
    case grpc::StatusCode::INVALID_ARGUMENT:
      if (status.error_message().find("too large") != std::string::npos)
        return Error{413, "RequestEntityTooLarge", what + " (the value is larger than etcd's --max-request-bytes)", {}};
      return Error::badRequest(what);
    default:
      return Error::internal(what);
  }
}

std::string prefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) != 0xff) {
      prefix.back() = char(static_cast<unsigned char>(prefix.back()) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key: etcd reads "\0" as "no end"
}

}  // namespace skiff::store::etcd
