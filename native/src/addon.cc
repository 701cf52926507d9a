// Addon registration: the typed contract lives in native/binding.ts.
#include <napi.h>

#include "native.h"

namespace runsc {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  struct {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  } fns[] = {
      {"spawn", Spawn},
      {"loadInit", LoadInit},
      {"notifySizes", NotifySizes},
      {"notifyReceive", NotifyReceive},
      {"notifyRespond", NotifyRespond},
      {"notifyAddFd", NotifyAddFd},
      {"notifyIdValid", NotifyIdValid},
      {"notifySetSyncWakeUp", NotifySetSyncWakeUp},
      {"blockSignals", BlockSignals},
      {"readMemory", ReadMemory},
      {"readString", ReadString},
      {"writeMemory", WriteMemory},
      {"waitExit", WaitExit},
      {"onExit", OnExit},
      {"startReaper", StartReaper},
      {"spawnCommand", SpawnCommand},
      {"blockingPool", BlockingPool},
      {"blockingPoolClose", BlockingPoolClose},
      {"blockingPoolStats", BlockingPoolStats},
      {"blockingCall", BlockingCall},
      {"pidfdExited", PidfdExited},
      {"pidfdOpen", PidfdOpen},
      {"pidfdGetfd", PidfdGetfd},
      {"pidfdSendSignal", PidfdSendSignal},
      {"close", Close},
      {"dup2", Dup2},
      {"dup", Dup},
      {"enterMountNamespace", EnterMountNamespace},
      {"setCreds", SetCreds},
      {"openat2", OpenAt2},
      {"statAt", StatAt},
      {"statxAt", StatxAt},
      {"readlinkAt", ReadlinkAt},
      {"accessAt", AccessAt},
      {"mkdirAt", MkdirAt},
      {"mknodAt", MknodAt},
      {"unlinkAt", UnlinkAt},
      {"renameAt2", RenameAt2},
      {"linkAt", LinkAt},
      {"symlinkAt", SymlinkAt},
      {"chmodAt", ChmodAt},
      {"chownAt", ChownAt},
      {"utimensAt", UtimensAt},
      {"ftruncate", Ftruncate},
      {"fsetxattr", Fsetxattr},
      {"fremovexattr", Fremovexattr},
      {"schedGetaffinity", SchedGetaffinity},
      {"overlayRoot", OverlayRoot},
      {"fuseMount", FuseMount},
      {"hostFilesystem", HostFilesystem},
      {"createUserNamespace", CreateUserNamespace},
      {"idmappedMount", IdmappedMount},
      {"idmappedOverlay", IdmappedOverlay},
      {"procServe", ProcServe},
      {"connect", Connect},
      {"sendto", SendTo},
      {"fchdir", Fchdir},
      {"inTerminalForeground", InTerminalForeground},
      {"probe", Probe},
      {"socket", Socket},
      {"socketpair", Socketpair},
      {"bind", Bind},
      {"listen", Listen},
      {"getsockoptInt", GetsockoptInt},
      {"setsockoptInt", SetsockoptInt},
      {"socketNetns", SocketNetns},
      {"fcntl", Fcntl},
      {"umask", Umask},
      {"openPty", OpenPty},
      {"openPtyIn", OpenPtyIn},
      {"setWinsize", SetWinsize},
      {"sendFdToSocket", SendFdToSocket},
      {"flock", Flock},
      {"spawnConfined", SpawnConfined},
      {"confineSelf", ConfineSelf},
      {"startBinder", StartBinder},
      {"bindVia", BindVia},
      {"sendFds", SendFds},
      {"recvFds", RecvFds},
      {"waitReadable", WaitReadable},
      {"peerCred", PeerCred},
      {"listenUnix", ListenUnix},
      {"nsOwner", NsOwner},
      {"writeNetSysctls", WriteNetSysctls},
  };
  for (auto& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
  return exports;
}

NODE_API_MODULE(runsc_native, Init)

}  // namespace runsc
