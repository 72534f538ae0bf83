// The server name (SNI) a TLS client asks for, read from its ClientHello without terminating TLS:
// how a Gateway's TLS passthrough listener picks a TLSRoute before any byte reaches a backend.
// The ClientHello may span several TLS records; it is bounded to 64 KiB.
#pragma once
#include <string>
#include <string_view>

namespace skiff::proxy {

enum class ClientHello {
  kIncomplete,  // more bytes needed
  kComplete,    // parsed; `serverName` is the SNI host name in lower case ("" when the client sent none)
  kNotTls,      // not a TLS handshake, malformed, or too large
};

ClientHello parseClientHello(std::string_view bytes, std::string& serverName);

}  // namespace skiff::proxy
