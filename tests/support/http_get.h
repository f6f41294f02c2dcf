// A blocking HTTP/1.1 GET against a server on this machine (Boost.Beast), for tests.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

namespace lipsync::testing {

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

inline HttpReply http_get(int port, const std::string& target) {
  namespace beast = boost::beast;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                static_cast<unsigned short>(port)));
  beast::http::request<beast::http::empty_body> request(beast::http::verb::get, target, 11);
  request.set(beast::http::field::host, "127.0.0.1");
  beast::http::write(stream, request);
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> response;
  beast::http::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()),
          std::string(response[beast::http::field::content_type]), response.body()};
}

}  // namespace lipsync::testing
