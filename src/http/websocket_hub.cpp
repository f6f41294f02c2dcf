#include "http/websocket_hub.h"

#include <fmt/format.h>

namespace lipsync::http::detail {

const WebSocketRoute* WebSocketHub::find(const std::string& path) const {
  const auto it = routes_.find(path);
  return it == routes_.end() ? nullptr : &it->second;
}

std::pair<int, std::string> WebSocketHub::refusal() {
  std::lock_guard lock(mutex_);
  reap_locked();
  if (stopped_) return {503, "the server is shutting down\n"};
  if (handlers_.size() >= limits_.max_websockets) {
    return {503, fmt::format("too many WebSocket connections ({} open), retry later\n",
                             handlers_.size())};
  }
  return {0, {}};
}

std::shared_ptr<WebSocketSession> WebSocketHub::make_session(boost::asio::ip::tcp::socket socket,
                                                             const WebSocketRoute& route,
                                                             std::shared_ptr<void> ticket) {
  return std::make_shared<WebSocketSession>(std::move(socket), route, limits_, std::move(ticket),
                                            [this] {
                                              std::lock_guard lock(mutex_);
                                              changed_.notify_all();
                                            });
}

void WebSocketHub::open(const std::shared_ptr<WebSocketSession>& session) {
  std::lock_guard lock(mutex_);
  reap_locked();
  if (stopped_) {
    session->abort();
    return;
  }
  Handler& handler = handlers_.emplace_back();
  handler.session = session;
  handler.thread = std::thread([this, session, &handler] {
    session->run_handler();
    std::lock_guard done_lock(mutex_);
    handler.done = true;
    changed_.notify_all();
  });
}

void WebSocketHub::stop(std::chrono::milliseconds grace, const std::string& reason) {
  std::unique_lock lock(mutex_);
  stopped_ = true;
  for (auto& handler : handlers_) {
    if (auto session = handler.session.lock()) session->shut_down(reason);
  }
  changed_.wait_for(lock, grace, [&] { return all_finished_locked(); });
  std::list<Handler> handlers;
  handlers.swap(handlers_);
  lock.unlock();
  for (auto& handler : handlers) {
    if (auto session = handler.session.lock()) session->abort();
  }
  for (auto& handler : handlers) handler.thread.join();
}

void WebSocketHub::reap_locked() {
  for (auto it = handlers_.begin(); it != handlers_.end();) {
    if (!it->done) {
      ++it;
      continue;
    }
    it->thread.join();
    it = handlers_.erase(it);
  }
}

bool WebSocketHub::all_finished_locked() const {
  for (const auto& handler : handlers_) {
    if (!handler.done) return false;
    const auto session = handler.session.lock();
    if (session != nullptr && !session->closed()) return false;
  }
  return true;
}

}  // namespace lipsync::http::detail
