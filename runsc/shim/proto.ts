// The protobuf messages of containerd's runtime v2 shim API, as the wire has them: the Task
// service the shim serves over ttrpc, the ttrpc frame's request and response, the task
// events the shim publishes, and the few well-known types they use. Field numbers are the
// API's (containerd's api/runtime/task/v2, api/events, api/types; ttrpc's request). Encoding
// and decoding are protobufjs's, from this text: nothing is hand-encoded.
import protobuf from "protobufjs";

const PROTO = `
syntax = "proto3";

package google.protobuf;
message Any { string type_url = 1; bytes value = 2; }
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
message Empty {}
`;

const TYPES = `
syntax = "proto3";
package containerd.types;
message Mount { string type = 1; string source = 2; string target = 3; repeated string options = 4; }
`;

const TASK_TYPES = `
syntax = "proto3";
package containerd.v1.types;
enum Status { UNKNOWN = 0; CREATED = 1; RUNNING = 2; STOPPED = 3; PAUSED = 4; PAUSING = 5; }
message ProcessInfo { uint32 pid = 1; google.protobuf.Any info = 2; }
`;

const TASK = `
syntax = "proto3";
package containerd.task.v2;
message CreateTaskRequest {
  string id = 1; string bundle = 2; repeated containerd.types.Mount rootfs = 3; bool terminal = 4;
  string stdin = 5; string stdout = 6; string stderr = 7; string checkpoint = 8; string parent_checkpoint = 9;
  google.protobuf.Any options = 10;
}
message CreateTaskResponse { uint32 pid = 1; }
message DeleteRequest { string id = 1; string exec_id = 2; }
message DeleteResponse { uint32 pid = 1; uint32 exit_status = 2; google.protobuf.Timestamp exited_at = 3; }
message ExecProcessRequest {
  string id = 1; string exec_id = 2; bool terminal = 3; string stdin = 4; string stdout = 5; string stderr = 6;
  google.protobuf.Any spec = 7;
}
message ResizePtyRequest { string id = 1; string exec_id = 2; uint32 width = 3; uint32 height = 4; }
message StateRequest { string id = 1; string exec_id = 2; }
message StateResponse {
  string id = 1; string bundle = 2; uint32 pid = 3; containerd.v1.types.Status status = 4; string stdin = 5;
  string stdout = 6; string stderr = 7; bool terminal = 8; uint32 exit_status = 9;
  google.protobuf.Timestamp exited_at = 10; string exec_id = 11;
}
message KillRequest { string id = 1; string exec_id = 2; uint32 signal = 3; bool all = 4; }
message CloseIORequest { string id = 1; string exec_id = 2; bool stdin = 3; }
message PidsRequest { string id = 1; }
message PidsResponse { repeated containerd.v1.types.ProcessInfo processes = 1; }
message CheckpointTaskRequest { string id = 1; string path = 2; google.protobuf.Any options = 3; }
message UpdateTaskRequest { string id = 1; google.protobuf.Any resources = 2; map<string, string> annotations = 3; }
message StartRequest { string id = 1; string exec_id = 2; }
message StartResponse { uint32 pid = 1; }
message WaitRequest { string id = 1; string exec_id = 2; }
message WaitResponse { uint32 exit_status = 1; google.protobuf.Timestamp exited_at = 2; }
message StatsRequest { string id = 1; }
message StatsResponse { google.protobuf.Any stats = 1; }
message ConnectRequest { string id = 1; }
message ConnectResponse { uint32 shim_pid = 1; uint32 task_pid = 2; string version = 3; }
message ShutdownRequest { string id = 1; bool now = 2; }
message PauseRequest { string id = 1; }
message ResumeRequest { string id = 1; }
`;

const EVENTS = `
syntax = "proto3";
package containerd.events;
message TaskIO { string stdin = 1; string stdout = 2; string stderr = 3; bool terminal = 4; }
message TaskCreate {
  string container_id = 1; string bundle = 2; repeated containerd.types.Mount rootfs = 3; TaskIO io = 4;
  string checkpoint = 5; uint32 pid = 6;
}
message TaskStart { string container_id = 1; uint32 pid = 2; }
message TaskDelete { string container_id = 1; uint32 pid = 2; uint32 exit_status = 3; google.protobuf.Timestamp exited_at = 4; string id = 5; }
message TaskExit { string container_id = 1; string id = 2; uint32 pid = 3; uint32 exit_status = 4; google.protobuf.Timestamp exited_at = 5; }
message TaskOOM { string container_id = 1; }
message TaskExecAdded { string container_id = 1; string exec_id = 2; }
message TaskExecStarted { string container_id = 1; string exec_id = 2; uint32 pid = 3; }
message TaskPaused { string container_id = 1; }
message TaskResumed { string container_id = 1; }
`;

/** containerd's event service over ttrpc, where a shim publishes (Events.Forward). */
const EVENTS_SERVICE = `
syntax = "proto3";
package containerd.services.events.ttrpc.v1;
message Envelope { google.protobuf.Timestamp timestamp = 1; string namespace = 2; string topic = 3; google.protobuf.Any event = 4; }
message ForwardRequest { Envelope envelope = 1; }
`;

/** cgroup v1 statistics as containerd's CRI reads them (containerd/cgroups stats/v1): the fields runsc-ts reports. */
const CGROUPS_V1 = `
syntax = "proto3";
package io.containerd.cgroups.v1;
message Metrics { PidsStat pids = 2; CPUStat cpu = 3; MemoryStat memory = 4; }
message PidsStat { uint64 current = 1; uint64 limit = 2; }
message CPUStat { CPUUsage usage = 1; }
message CPUUsage { uint64 total = 1; uint64 kernel = 2; uint64 user = 3; repeated uint64 per_cpu = 4; }
message MemoryStat {
  uint64 cache = 1; uint64 rss = 2; uint64 rss_huge = 3; uint64 mapped_file = 4; uint64 dirty = 5; uint64 writeback = 6;
  uint64 pg_pg_in = 7; uint64 pg_pg_out = 8; uint64 pg_fault = 9; uint64 pg_maj_fault = 10; uint64 inactive_anon = 11;
  uint64 active_anon = 12; uint64 inactive_file = 13; uint64 active_file = 14; uint64 unevictable = 15;
  uint64 hierarchical_memory_limit = 16; uint64 hierarchical_swap_limit = 17; uint64 total_cache = 18; uint64 total_rss = 19;
  uint64 total_rss_huge = 20; uint64 total_mapped_file = 21; uint64 total_dirty = 22; uint64 total_writeback = 23;
  uint64 total_pg_pg_in = 24; uint64 total_pg_pg_out = 25; uint64 total_pg_fault = 26; uint64 total_pg_maj_fault = 27;
  uint64 total_inactive_anon = 28; uint64 total_active_anon = 29; uint64 total_inactive_file = 30; uint64 total_active_file = 31;
  uint64 total_unevictable = 32; MemoryEntry usage = 33; MemoryEntry swap = 34; MemoryEntry kernel = 35; MemoryEntry kernel_tcp = 36;
}
message MemoryEntry { uint64 limit = 1; uint64 usage = 2; uint64 max = 3; uint64 failcnt = 4; }
`;

const TTRPC = `
syntax = "proto3";
package ttrpc;
message KeyValue { string key = 1; string value = 2; }
message Request { string service = 1; string method = 2; bytes payload = 3; int64 timeout_nano = 4; repeated KeyValue metadata = 5; }
message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
message Response { Status status = 1; bytes payload = 2; }
`;

const root = new protobuf.Root();
for (const text of [PROTO, TYPES, TASK_TYPES, TASK, EVENTS, EVENTS_SERVICE, CGROUPS_V1, TTRPC]) protobuf.parse(text, root, { keepCase: true });
root.resolveAll();

/** A message type by its full name (a name this file lacks throws: a programming error). */
export function messageType(name: string): protobuf.Type {
  return root.lookupType(name);
}

/** Encodes obj (plain fields, snake_case as in the API) as the message name. */
export function encode(name: string, obj: object): Uint8Array {
  const t = messageType(name);
  return t.encode(t.fromObject(obj)).finish();
}

/** Decodes bytes as the message name into plain fields: 64-bit numbers as numbers, enums as numbers, absent scalars as their defaults. */
export function decode<T>(name: string, bytes: Uint8Array): T {
  const t = messageType(name);
  return t.toObject(t.decode(bytes), { longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true, objects: true }) as T;
}

export interface Timestamp {
  seconds: number;
  nanos: number;
}

/** A protobuf Timestamp of a time in milliseconds since the epoch. */
export function timestamp(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
}

export interface Any {
  type_url: string;
  value: Buffer;
}

/** The ttrpc status codes the shim answers with (gRPC's). */
export const Code = {
  OK: 0,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
} as const;
