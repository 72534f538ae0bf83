#include "agent/port_forward.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "common/log.h"
#include "http/spdy.h"

namespace skiff::agent {
namespace spdy = http::spdy;

namespace {

// One forwarded connection: its two streams and the pod's socket.
struct Forward {
  uint32_t errorStream = 0, dataStream = 0;
  uint16_t port = 0;
  int fd = -1;
  bool finished = false;
};

class Session {
 public:
  Session(http::WebSocket& ws, const PortForwardOptions& options) : ws_(ws), options_(options) {}
  ~Session() {
    for (auto& [_, f] : forwards_)
      if (f.fd >= 0) ::close(f.fd);
  }

  void run() {
    auto lastActivity = std::chrono::steady_clock::now();
    while (open_) {
      std::vector<pollfd> fds{{ws_.fd(), POLLIN, 0}};
      std::vector<std::string> keys;
      for (auto& [id, f] : forwards_)
        if (f.fd >= 0) {
          fds.push_back({f.fd, POLLIN, 0});
          keys.push_back(id);
        }
      int r = ::poll(fds.data(), fds.size(), ws_.pending() ? 0 : 1000);
      if (r < 0 && errno != EINTR) break;
      auto now = std::chrono::steady_clock::now();
      if (r > 0 || ws_.pending()) lastActivity = now;
      if (forwards_.empty() && now - lastActivity > options_.idleTimeout) break;
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) || ws_.pending()) fromClient();
      for (size_t i = 1; i < fds.size() && open_; ++i)
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) fromPod(keys[i - 1]);
      reap();
    }
    if (open_) send(spdy::Codec::goAway(lastStream_, 0));
    ws_.close();
  }

 private:
  bool send(const std::string& bytes) {
    if (!ws_.send(bytes)) open_ = false;
    return open_;
  }

  void fromClient() {
    auto msg = ws_.receive();
    if (!msg) {
      open_ = false;
      return;
    }
    if (!*msg) return;
    codec_.feed(**msg);
    for (;;) {
      auto frame = codec_.next();
      if (!frame) {
        log::warn("port-forward", options_.podDescription + ": " + frame.error().message + "; closing the session");
        send(spdy::Codec::goAway(lastStream_, spdy::kProtocolError));
        open_ = false;
        return;
      }
      if (!*frame) return;
      handle(**frame);
      if (!open_) return;
    }
  }

  void handle(spdy::Frame& f) {
    switch (f.type) {
      case spdy::FrameType::kSynStream: return openStream(f);
      case spdy::FrameType::kData: return dataFromClient(f);
      case spdy::FrameType::kRstStream: return finishStream(f.streamId);
      case spdy::FrameType::kPing: send(spdy::Codec::ping(f.value)); return;
      case spdy::FrameType::kGoAway: open_ = false; return;
      default: return;  // SETTINGS, WINDOW_UPDATE (no flow control, as spdystream), HEADERS
    }
  }

  void openStream(const spdy::Frame& f) {
    lastStream_ = std::max(lastStream_, f.streamId);
    auto header = [&](const char* name) {
      auto it = f.headers.find(name);
      return it == f.headers.end() ? std::string() : it->second;
    };
    std::string type = header("streamtype"), request = header("requestid"), portText = header("port");
    char* end = nullptr;
    long port = std::strtol(portText.c_str(), &end, 10);
    if ((type != "error" && type != "data") || portText.empty() || *end || port < 1 || port > 65535) {
      send(spdy::Codec::rstStream(f.streamId, spdy::kProtocolError));
      return;
    }
    if (!forwards_.count(request) && forwards_.size() >= options_.maxConnections) {
      send(spdy::Codec::rstStream(f.streamId, spdy::kRefusedStream));
      return;
    }
    Forward& fw = forwards_[request];
    fw.port = uint16_t(port);
    (type == "error" ? fw.errorStream : fw.dataStream) = f.streamId;
    streams_[f.streamId] = request;
    if (!send(codec_.synReply(f.streamId, {}))) return;
    if (fw.errorStream && fw.dataStream && fw.fd < 0 && !fw.finished) connect(request, fw);
  }

  void connect(const std::string& request, Forward& fw) {
    auto fd = options_.dial(fw.port);
    if (fd) {
      fw.fd = *fd;
      return;
    }
    // What the kubelet writes on the error stream; kubectl prints it.
    std::string why = "error forwarding port " + std::to_string(fw.port) + " to " + options_.podDescription + ": " + fd.error().message;
    send(spdy::Codec::data(fw.errorStream, why, true));
    send(spdy::Codec::data(fw.dataStream, "", true));
    fw.finished = true;
    (void)request;
  }

  void dataFromClient(const spdy::Frame& f) {
    auto it = streams_.find(f.streamId);
    if (it == streams_.end()) return;
    auto fw = forwards_.find(it->second);
    if (fw == forwards_.end() || fw->second.dataStream != f.streamId || fw->second.fd < 0) return;
    int fd = fw->second.fd;
    for (size_t off = 0; off < f.data.size();) {
      ssize_t n = ::send(fd, f.data.data() + off, f.data.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        podDone(fw->second);
        return;
      }
      off += size_t(n);
    }
    if (f.fin()) ::shutdown(fd, SHUT_WR);  // the client is done sending; the pod may still answer
  }

  void fromPod(const std::string& request) {
    auto it = forwards_.find(request);
    if (it == forwards_.end() || it->second.fd < 0) return;
    char buf[32 * 1024];
    ssize_t n = ::recv(it->second.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) {
      send(spdy::Codec::data(it->second.dataStream, std::string_view(buf, size_t(n)), false));
      return;
    }
    podDone(it->second);
  }

  // The pod's end is finished: both streams close (kubectl waits for the error stream's end).
  void podDone(Forward& fw) {
    if (fw.finished) return;
    send(spdy::Codec::data(fw.dataStream, "", true));
    send(spdy::Codec::data(fw.errorStream, "", true));
    fw.finished = true;
    if (fw.fd >= 0) ::close(fw.fd);
    fw.fd = -1;
  }

  void finishStream(uint32_t stream) {
    auto it = streams_.find(stream);
    if (it == streams_.end()) return;
    auto fw = forwards_.find(it->second);
    if (fw != forwards_.end()) {
      if (fw->second.fd >= 0) ::close(fw->second.fd);
      fw->second.fd = -1;
      fw->second.finished = true;
    }
    streams_.erase(it);
  }

  // Finished connections leave once the client has no stream of theirs left to reset.
  void reap() {
    for (auto it = forwards_.begin(); it != forwards_.end();) {
      if (it->second.finished) {
        streams_.erase(it->second.errorStream);
        streams_.erase(it->second.dataStream);
        it = forwards_.erase(it);
      } else {
        ++it;
      }
    }
  }

  http::WebSocket& ws_;
  const PortForwardOptions& options_;
  spdy::Codec codec_;
  std::map<std::string, Forward> forwards_;     // requestid -> connection
  std::map<uint32_t, std::string> streams_;     // stream -> requestid
  uint32_t lastStream_ = 0;
  bool open_ = true;
};

}  // namespace

void servePortForward(http::WebSocket& socket, const PortForwardOptions& options) { Session(socket, options).run(); }

}  // namespace skiff::agent
