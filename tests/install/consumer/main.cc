// Uses only the installed public headers; exits 0 when the Store behaves.
#include <cstdio>

#include "mirrorkv/store.h"

int main() {
  auto store = mirrorkv::Store::Open({});
  if (!store.ok()) return 1;
  if (!(*store)->Set("session:1", "alice").ok()) return 2;
  auto value = (*store)->Get("session:1");
  if (!value.ok() || *value != "alice") return 3;
  std::printf("consumer: ok\n");
  return 0;
}
