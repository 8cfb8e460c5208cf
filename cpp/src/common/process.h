// Process supervision and listening sockets for the `local` target.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// A process, identified by pid and its start time (from /proc), so that a
// recycled pid is never mistaken for our server.
struct ProcessId {
  int pid = 0;
  unsigned long long start_time = 0;
};

struct SpawnSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // the complete environment, "KEY=VALUE"
  std::string log_path;          // stdout and stderr are appended here
  // When >= 0, handed to the child as fd 3: a listening socket for a model server, a serve worker's end
  // of its socketpair. Every other descriptor but 0, 1 and 2 is closed in the child.
  int listen_fd = -1;
};

// Starts a detached process (double fork, own session and process group) that
// outlives the caller. Fails if the program cannot be executed.
StatusOr<ProcessId> SpawnDetached(const SpawnSpec& spec);

// Starts a child of this process (not detached: the caller reaps it with waitpid) with stdin on /dev/null,
// stdout and stderr inherited (appended to `log_path` when it is set), in the caller's process group, and
// SIGTERM sent to it if the calling thread dies. Returns its pid; fails if the program cannot be executed.
StatusOr<int> SpawnChild(const SpawnSpec& spec);

// Runs a process in the foreground and waits for it; returns its exit code.
// When `interrupted` returns true (polled while waiting) the process gets
// SIGINT, then SIGKILL if it has not exited within `grace`. The process also
// gets SIGTERM if the caller dies.
StatusOr<int> RunForeground(const SpawnSpec& spec, const std::function<bool()>& interrupted, std::chrono::milliseconds grace,
                            Clock& clock);

// Whether the process is alive (not exited, not a zombie, same start time).
bool IsAlive(const ProcessId& id);

// SIGTERM to the process group, then SIGKILL after `grace`. OK when already gone.
Status StopProcess(const ProcessId& id, std::chrono::milliseconds grace, Clock& clock);

// A TCP socket on 127.0.0.1:port with SO_REUSEADDR and SO_REUSEPORT, bound but
// not listening (the server listens once its model is loaded). port 0: any free port.
StatusOr<int> BindSharedPort(int port);
// Fails with INVALID_PARAMETER_VALUE when something is bound to 127.0.0.1:port.
Status CheckPortFree(int port);
int LocalPort(int fd);
bool IsListening(int fd);
// Makes the kernel hand new connections on the port to the most recently
// listening socket of the group (classic BPF on the SO_REUSEPORT group), so that
// a server that has just started takes over from the one it replaces.
Status SteerToNewest(int fd);
// Connections waiting to be accepted on the other listening sockets bound to fd's address (the servers a
// new one replaces), from /proc/net/tcp. Once SteerToNewest sends new connections to fd, this only shrinks.
StatusOr<int> QueuedOnOtherListeners(int fd);

}  // namespace mlflow_bridge::internal
