#include "proxy/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace skiff::proxy {

namespace {
// The wake-up eventfd's handler slot: a distinct address that is never a real Handler.
char wakeTag;
}  // namespace

EventLoop::EventLoop() {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &wakeTag;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, wakeFd_, &ev);
}

EventLoop::~EventLoop() {
  if (wakeFd_ >= 0) close(wakeFd_);
  if (epoll_ >= 0) close(epoll_);
}

bool EventLoop::add(int fd, Handler* handler, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) { epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(task));
  }
  wake();
}

void EventLoop::stop() {
  stopping_ = true;
  wake();
}

void EventLoop::wake() {
  uint64_t one = 1;
  ssize_t n = write(wakeFd_, &one, sizeof one);
  (void)n;
}

void EventLoop::runPosted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(posted_);
  }
  for (auto& t : tasks) t();
}

void EventLoop::run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (!stopping_) {
    int timeout = ticking_ ? 10 : 1000;
    int n = epoll_wait(epoll_, events, kMaxEvents, timeout);
    now_ = Clock::now();
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == &wakeTag) {
        uint64_t v;
        ssize_t r = read(wakeFd_, &v, sizeof v);
        (void)r;
        runPosted();
        continue;
      }
      static_cast<Handler*>(events[i].data.ptr)->onEvents(events[i].events);
    }
    bool ticked = false;
    if (tick_ && (ticking_ || n == 0) && now_ - lastTick_ >= std::chrono::milliseconds(10)) {
      lastTick_ = now_;
      tick_(now_);
      ticked = true;
    }
    if (afterEvents_ && (n > 0 || ticked)) afterEvents_();
    if (!graveyard_.empty()) collect();
  }
  runPosted();
  collect();
}

}  // namespace skiff::proxy
