// skiff exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARGS...]: runs a command in a container over
// the same WebSocket streaming protocol kubectl uses (v5/v4.channel.k8s.io), and exits with the
// command's exit code.
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "http/websocket.h"

namespace skiff::cli {
namespace json = boost::json;

int runExec(const Args& rawArgs) {
  // "-it" and "-ti" are two flags, as in kubectl.
  Args args;
  for (const auto& a : rawArgs) {
    if (a == "-it" || a == "-ti") {
      args.push_back("-i");
      args.push_back("-t");
    } else {
      args.push_back(a);
    }
  }
  auto specs = commonFlags();
  specs.push_back({"container", "c", true});
  specs.push_back({"stdin", "i", false});
  specs.push_back({"tty", "t", false});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.size() < 2) return fail("usage: skiff exec POD [-c CONTAINER] [-i] -- COMMAND [ARGS...]");
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  std::string pod = pos[0];
  if (pod.starts_with("pod/") || pod.starts_with("pods/")) pod = pod.substr(pod.find('/') + 1);
  bool withStdin = flags->has("stdin");
  bool tty = flags->has("tty") && withStdin && isatty(0);
  std::string target = "/api/v1/namespaces/" + http::percentEncode(c.namespace_()) + "/pods/" + http::percentEncode(pod) +
                       "/exec?stdout=true&stderr=" + (tty ? "false" : "true") + "&stdin=" + (withStdin ? "true" : "false") +
                       (tty ? "&tty=true" : "");
  if (flags->has("container")) target += "&container=" + http::percentEncode(flags->get("container"));
  for (size_t i = 1; i < pos.size(); ++i) target += "&command=" + http::percentEncode(pos[i]);
  auto ws = c.client().openWebSocket(target, {"v5.channel.k8s.io", "v4.channel.k8s.io"});
  if (!ws) return fail(ws.error().message);
  http::WebSocket& socket = **ws;
  bool v5 = socket.protocol() == "v5.channel.k8s.io";
  // With -t: the local terminal goes raw (the remote one does the echo and line editing) and is
  // restored however we leave; the remote one gets our size.
  struct RawTerminal {
    bool active = false;
    termios saved{};
    ~RawTerminal() {
      if (active) tcsetattr(0, TCSAFLUSH, &saved);
    }
  } raw;
  if (tty && tcgetattr(0, &raw.saved) == 0) {
    termios t = raw.saved;
    cfmakeraw(&t);
    raw.active = tcsetattr(0, TCSAFLUSH, &t) == 0;
    winsize w{};
    if (ioctl(1, TIOCGWINSZ, &w) == 0)
      socket.send(std::string(1, '\x04') + "{\"Width\":" + std::to_string(w.ws_col) + ",\"Height\":" + std::to_string(w.ws_row) + "}");
  }
  bool stdinOpen = withStdin;
  char buf[32768];
  while (true) {
    pollfd fds[2] = {{socket.fd(), POLLIN, 0}, {stdinOpen ? 0 : -1, POLLIN, 0}};
    if (!socket.pending() && ::poll(fds, 2, -1) < 0 && errno != EINTR) return fail("poll failed");
    if (stdinOpen && (fds[1].revents & (POLLIN | POLLHUP))) {
      ssize_t n = read(0, buf + 1, sizeof buf - 1);
      if (n <= 0) {
        stdinOpen = false;
        if (v5) socket.send(std::string("\xff\x00", 2));
      } else {
        buf[0] = 0;
        socket.send(std::string_view(buf, size_t(n) + 1));
      }
    }
    if (!socket.pending() && !(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    auto msg = socket.receive();
    if (!msg) return fail("the connection to the server ended before the command finished");
    if (!*msg || (*msg)->empty()) continue;
    unsigned char channel = static_cast<unsigned char>((**msg)[0]);
    std::string_view data = std::string_view(**msg).substr(1);
    if (channel == 1 || channel == 2) {
      FILE* out = channel == 1 ? stdout : stderr;
      std::fwrite(data.data(), 1, data.size(), out);
      std::fflush(out);
    } else if (channel == 3) {
      boost::system::error_code ec;
      json::value status = json::parse(data, ec);
      if (ec) return fail("the server sent an unreadable exec status");
      if (api::stringAt(status, "status") == "Success") return 0;
      if (const json::value* causes = api::valueAt(status, "details.causes"); causes && causes->is_array())
        for (const auto& cause : causes->get_array())
          if (api::stringAt(cause, "reason") == "ExitCode") return std::atoi(api::stringAt(cause, "message").c_str());
      return fail(api::stringAt(status, "message"));
    }
  }
}

}  // namespace skiff::cli
