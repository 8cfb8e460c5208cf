// libevent, built on a glibc that has arc4random (2.36), calls it from evutil_secure_rng. Defined here, the
// binary takes these instead of glibc's, and so runs on older glibc too (Ubuntu 22.04's 2.35: the wheel's
// manylinux_2_35 tag, Databricks runtimes). Only libevent's DNS code would use them, and the server does none.
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>

#include <cerrno>
#include <cstddef>

extern "C" {

void arc4random_buf(void* buf, size_t n) noexcept {
  auto* p = static_cast<unsigned char*>(buf);
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      abort();  // as glibc's: there is no way to report a failure
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
}

uint32_t arc4random() noexcept {
  uint32_t v;
  arc4random_buf(&v, sizeof v);
  return v;
}

}  // extern "C"
