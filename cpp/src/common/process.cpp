#include "common/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

extern char** environ;

namespace mlflow_bridge::internal {
namespace {

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

struct ProcStat {
  char state = 0;                     // field 3
  int pgrp = 0;                       // field 5
  unsigned long long start_time = 0;  // field 22
};

std::optional<ProcStat> ReadStatFile(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  auto close = line.rfind(')');  // comm may contain spaces and parentheses
  if (close == std::string::npos || close + 2 > line.size()) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  std::vector<std::string> fields;
  while (rest >> field) fields.push_back(field);
  if (fields.size() < 20) return std::nullopt;
  return ProcStat{fields[0][0], std::atoi(fields[2].c_str()), std::strtoull(fields[19].c_str(), nullptr, 10)};
}

std::optional<ProcStat> ReadProcStat(int pid) { return ReadStatFile("/proc/" + std::to_string(pid) + "/stat"); }

bool Dead(char state) { return state == 'Z' || state == 'X'; }

// Whether process `pid` still runs. Its main thread may already show as a
// zombie while other threads are still exiting, and they hold its files (the
// listening socket among them): look at every thread.
bool Running(int pid, const ProcStat& s) {
  if (!Dead(s.state)) return true;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    auto t = ReadStatFile(task.path().string() + "/stat");
    if (t && !Dead(t->state)) return true;
  }
  return false;
}

// Whether any process of group `pgid` still runs (the server's workers may
// outlive it for a moment, holding its socket). The kernel does not hand out a
// number still in use as a group id, so the group is still ours.
bool GroupRunning(int pgid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    int pid = std::atoi(name.c_str());
    auto stat = ReadProcStat(pid);
    if (stat && stat->pgrp == pgid && Running(pid, *stat)) return true;
  }
  return false;
}

struct CArgs {
  std::vector<std::string> storage;
  std::vector<char*> ptrs;
  explicit CArgs(const std::vector<std::string>& v) : storage(v) {
    for (auto& s : storage) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
};

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void ExecChild(const SpawnSpec& spec, int log_fd, char* const* argv, char* const* envp, int err_pipe) {
  // A program starts with default signal handling whatever its parent ignores or blocks (a server ignores
  // SIGPIPE, its event loop may block signals).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Out of the way of the descriptors we are about to place.
  err_pipe = fcntl(err_pipe, F_DUPFD_CLOEXEC, 100);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, 0);
  if (log_fd >= 0) {
    dup2(log_fd, 1);
    dup2(log_fd, 2);
  }
  if (spec.listen_fd >= 0) {
    if (spec.listen_fd != 3) {
      dup2(spec.listen_fd, 3);
    } else {
      fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep FD_CLOEXEC
    }
  }
  // Close everything else but the error pipe, which is close-on-exec.
  unsigned first_free = spec.listen_fd >= 0 ? 4 : 3;
  unsigned pipe_fd = static_cast<unsigned>(err_pipe);
  syscall(SYS_close_range, first_free, pipe_fd - 1, 0);
  syscall(SYS_close_range, pipe_fd + 1, ~0U, 0);
  execve(argv[0], argv, envp);
  int e = errno;
  (void)!write(err_pipe, &e, sizeof e);
  _exit(127);
}

StatusOr<ProcessId> Identify(int pid) {
  auto stat = ReadProcStat(pid);
  if (!stat) return InternalError("process " + std::to_string(pid) + " vanished");
  return ProcessId{pid, stat->start_time};
}

// The errno a child wrote to its close-on-exec pipe when exec failed; 0 when
// exec succeeded (the pipe closed empty). Closes the read end.
int ReadExecErrno(int fd) {
  int e = 0;
  ssize_t m;
  do {
    m = read(fd, &e, sizeof e);
  } while (m < 0 && errno == EINTR);
  close(fd);
  return m == sizeof e ? e : 0;
}

Status ExecError(const SpawnSpec& spec, int e) {
  return InvalidParameterError("Cannot run '" + spec.argv[0] + "': " + std::strerror(e) +
                               ". Check that the Python interpreter exists and is executable.");
}

}  // namespace

StatusOr<ProcessId> SpawnDetached(const SpawnSpec& spec) {
  if (spec.argv.empty()) return InvalidParameterError("no program to run");
  CArgs argv(spec.argv), envp(spec.env);
  int log_fd = open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return InternalError(Errno(("cannot open log file " + spec.log_path).c_str()));
  int err_pipe[2] = {-1, -1}, pid_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {log_fd, err_pipe[0], err_pipe[1], pid_pipe[0], pid_pipe[1]}) {
      if (fd >= 0) close(fd);
    }
  };
  if (pipe2(err_pipe, O_CLOEXEC) != 0 || pipe2(pid_pipe, O_CLOEXEC) != 0) {
    Status s = InternalError(Errno("pipe"));
    close_all();
    return s;
  }
  pid_t child = fork();
  if (child < 0) {
    Status s = InternalError(Errno("fork"));
    close_all();
    return s;
  }
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild != 0) {
      int pid = grandchild;  // -1 when fork failed
      (void)!write(pid_pipe[1], &pid, sizeof pid);
      _exit(0);
    }
    setsid();  // the server leads its own session and process group
    ExecChild(spec, log_fd, argv.ptrs.data(), envp.ptrs.data(), err_pipe[1]);
  }
  close(log_fd);
  close(err_pipe[1]);
  close(pid_pipe[1]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int pid = -1;
  ssize_t n;
  do {
    n = read(pid_pipe[0], &pid, sizeof pid);
  } while (n < 0 && errno == EINTR);
  close(pid_pipe[0]);
  int exec_errno = ReadExecErrno(err_pipe[0]);
  if (n != sizeof pid || pid <= 0) return InternalError("could not start the server process (fork failed)");
  if (exec_errno != 0) return ExecError(spec, exec_errno);
  return Identify(pid);
}

StatusOr<int> SpawnChild(const SpawnSpec& spec) {
  if (spec.argv.empty()) return InvalidParameterError("no program to run");
  CArgs argv(spec.argv), envp(spec.env);
  int log_fd = -1;
  if (!spec.log_path.empty()) {
    log_fd = open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return InternalError(Errno(("cannot open log file " + spec.log_path).c_str()));
  }
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    Status s = InternalError(Errno("pipe"));
    if (log_fd >= 0) close(log_fd);
    return s;
  }
  pid_t child = fork();
  if (child < 0) {
    Status s = InternalError(Errno("fork"));
    for (int fd : {log_fd, err_pipe[0], err_pipe[1]}) {
      if (fd >= 0) close(fd);
    }
    return s;
  }
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    ExecChild(spec, log_fd, argv.ptrs.data(), envp.ptrs.data(), err_pipe[1]);
  }
  if (log_fd >= 0) close(log_fd);
  close(err_pipe[1]);
  int exec_errno = ReadExecErrno(err_pipe[0]);
  if (exec_errno != 0) {
    while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    return ExecError(spec, exec_errno);
  }
  return static_cast<int>(child);
}

StatusOr<int> RunForeground(const SpawnSpec& spec, const std::function<bool()>& interrupted, std::chrono::milliseconds grace,
                            Clock& clock) {
  auto started = SpawnChild(spec);
  if (!started.ok()) return started.status();
  pid_t child = *started;
  int status = 0;
  std::optional<Clock::TimePoint> kill_at;
  while (true) {
    pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child || (r < 0 && errno != EINTR)) break;
    if (!kill_at && interrupted && interrupted()) {
      kill(child, SIGINT);
      kill_at = clock.Now() + grace;
    }
    if (kill_at && clock.Now() >= *kill_at) kill(child, SIGKILL);
    clock.SleepFor(std::chrono::milliseconds(50));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

bool IsAlive(const ProcessId& id) {
  if (id.pid <= 0) return false;
  auto stat = ReadProcStat(id.pid);
  return stat && stat->start_time == id.start_time && Running(id.pid, *stat);
}

Status StopProcess(const ProcessId& id, std::chrono::milliseconds grace, Clock& clock) {
  if (id.pid <= 0) return OkStatus();
  // The number now names another process: ours is gone, and so is its group
  // (a number still in use as a group id is not handed out again).
  if (auto stat = ReadProcStat(id.pid); stat && stat->start_time != id.start_time) return OkStatus();
  // The server leads its own process group (setsid): stop it and its workers,
  // and wait for all of them, so that the port is free when this returns.
  auto gone = [&] { return !IsAlive(id) && !GroupRunning(id.pid); };
  if (gone()) return OkStatus();
  if (kill(-id.pid, SIGTERM) != 0 && errno == ESRCH && IsAlive(id)) kill(id.pid, SIGTERM);
  auto deadline = clock.Now() + grace;
  while (!gone() && clock.Now() < deadline) clock.SleepFor(std::chrono::milliseconds(50));
  if (!gone()) {
    kill(-id.pid, SIGKILL);
    if (IsAlive(id)) kill(id.pid, SIGKILL);
    auto hard = clock.Now() + std::chrono::seconds(5);
    while (!gone() && clock.Now() < hard) clock.SleepFor(std::chrono::milliseconds(50));
    if (!gone()) return InternalError("process " + std::to_string(id.pid) + " did not stop after SIGKILL");
  }
  return OkStatus();
}

namespace {
sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

Status PortInUse(int port) {
  return InvalidParameterError("Port " + std::to_string(port) +
                               " on 127.0.0.1 is already in use. Choose a free port with -C port=N, or omit "
                               "'port' to pick one automatically.");
}
}  // namespace

StatusOr<int> BindSharedPort(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return InternalError(Errno("socket"));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Accepted connections inherit this. The server cannot set it itself: it
  // gets the socket as a bare fd and takes it for a Unix socket (uvicorn --fd),
  // and Nagle plus delayed ACKs would add 40 ms to every keep-alive request.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr = Loopback(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    close(fd);
    if (e == EADDRINUSE) return PortInUse(port);
    errno = e;
    return InternalError(Errno(("bind 127.0.0.1:" + std::to_string(port)).c_str()));
  }
  return fd;
}

Status CheckPortFree(int port) {
  // Bound without SO_REUSEPORT, this fails if anything at all holds the port,
  // including another of our own servers.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return InternalError(Errno("socket"));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = Loopback(port);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int e = errno;
  close(fd);
  if (rc != 0 && e == EADDRINUSE) return PortInUse(port);
  if (rc != 0) return InvalidParameterError("Cannot use port " + std::to_string(port) + ": " + std::strerror(e));
  return OkStatus();
}

int LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

bool IsListening(int fd) {
  int v = 0;
  socklen_t len = sizeof v;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v != 0;
}

Status SteerToNewest(int fd) {
  // Sockets join a reuseport group in the order they start listening; the
  // one about to replace the current server is index 1. With one socket the
  // index is out of range and the kernel falls back to its hash: that socket.
  sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, 1)};
  sock_fprog prog{1, code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) {
    return InternalError(Errno("SO_ATTACH_REUSEPORT_CBPF"));
  }
  return OkStatus();
}

StatusOr<int> QueuedOnOtherListeners(int fd) {
  struct stat own {};
  if (fstat(fd, &own) != 0) return InternalError(Errno("fstat"));
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || addr.sin_family != AF_INET) {
    return InternalError(Errno("getsockname"));
  }
  // /proc/net/tcp prints the address as the hex of its bytes in memory, the port in host order.
  char local[32];
  std::snprintf(local, sizeof local, "%08X:%04X", addr.sin_addr.s_addr, ntohs(addr.sin_port));
  std::ifstream in("/proc/net/tcp");
  if (!in) return InternalError("cannot read /proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  int queued = 0;
  while (std::getline(in, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    std::istringstream fields(line);
    std::string sl, local_address, remote, state, queues, timer, retransmits, uid, timeout, inode;
    if (!(fields >> sl >> local_address >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode)) {
      continue;
    }
    if (state != "0A" || local_address != local) continue;  // 0A: LISTEN
    if (std::strtoull(inode.c_str(), nullptr, 10) == own.st_ino) continue;
    auto colon = queues.find(':');
    if (colon == std::string::npos) continue;
    // For a listening socket rx_queue is its accept queue.
    queued += static_cast<int>(std::strtol(queues.substr(colon + 1).c_str(), nullptr, 16));
  }
  return queued;
}

}  // namespace mlflow_bridge::internal
