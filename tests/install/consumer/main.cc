// Uses only the installed public headers; exits 0 when the Store behaves.
#include <cstdio>

#include "mirrorkv/server.h"
#include "mirrorkv/store.h"

int main() {
  auto store = mirrorkv::Store::Open({});
  if (!store.ok()) return 1;
  if (!(*store)->Set("session:1", "alice").ok()) return 2;
  auto value = (*store)->Get("session:1");
  if (!value.ok() || *value != "alice") return 3;
  // An embedded node on a free port, stopped at once.
  mirrorkv::ServerOptions options;
  options.port = 0;
  options.settings = {"--loglevel", "warning"};
  auto node = mirrorkv::Server::Start(options);
  if (!node.ok() || (*node)->port() == 0) return 4;
  if (!(*node)->store().Set("k", "v").ok()) return 5;
  (*node)->Stop();
  std::printf("consumer: ok\n");
  return 0;
}
