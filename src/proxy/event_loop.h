// One epoll loop per proxy worker thread. Sockets are registered once, edge-triggered, for
// reading and writing together, so the request path never calls epoll_ctl: a handler reads until
// the kernel says EAGAIN (or a short read shows the socket is drained) and writes until it blocks,
// then waits for the next edge. Work from other threads (a new route table) arrives through
// post(), which wakes the loop with an eventfd. Timeouts are coarse on purpose: owners keep a
// deadline field and the loop calls tick() about every 10 ms while anything is open, so arming a
// timeout on the request path is a store, not a heap operation.
#pragma once
#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace skiff::proxy {

using Clock = std::chrono::steady_clock;

class EventLoop {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void onEvents(uint32_t events) = 0;
  };

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  static constexpr uint32_t kEdge = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  bool add(int fd, Handler* handler, uint32_t events = kEdge);
  void remove(int fd);
  // Deletes `handler` after the current batch of events: a later event in the same batch may
  // still name it, so handlers check their own closed flag first.
  void retire(Handler* handler) { graveyard_.push_back(handler); }
  // Deletes what was retired (the loop does this after each batch; owners after the loop ends).
  void collect() {
    for (Handler* h : graveyard_) delete h;
    graveyard_.clear();
  }

  // Thread-safe: runs `task` on the loop's thread soon.
  void post(std::function<void()> task);
  // Called on the loop thread about every 10 ms (with the loop's `now`) while `ticking` is set.
  void onTick(std::function<void(Clock::time_point)> tick) { tick_ = std::move(tick); }
  void setTicking(bool on) { ticking_ = on; }
  // Called on the loop thread after each batch of events (and tick), before retired handlers are
  // deleted: work that many events of one batch ask for (sending a connection's queued frames)
  // is done once, in one write, instead of once per event.
  void afterEvents(std::function<void()> f) { afterEvents_ = std::move(f); }

  // Runs until stop(); stop() is thread-safe.
  void run();
  void stop();
  Clock::time_point now() const { return now_; }

 private:
  void wake();
  void runPosted();

  int epoll_ = -1;
  int wakeFd_ = -1;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<std::function<void()>> posted_;
  std::vector<Handler*> graveyard_;
  std::function<void(Clock::time_point)> tick_;
  std::function<void()> afterEvents_;
  bool ticking_ = false;
  Clock::time_point now_ = Clock::now(), lastTick_ = now_;
};

}  // namespace skiff::proxy
