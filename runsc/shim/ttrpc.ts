// ttrpc, containerd's RPC between it and its shims: gRPC's messages over a unix socket
// without HTTP/2. Each frame is a 10-byte header — length (u32, big-endian, the payload's
// alone), stream id (u32; a client's are odd), type (1 request, 2 response, 3 data), flags —
// then a protobuf Request or Response (proto.ts). A server answers each request on its
// stream; this one serves unary calls only (the Task API has no streams).
import { createConnection, createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { Code, decode, encode } from "./proto.js";

const HEADER = 10;
/** ttrpc's limit on one message. */
export const MAX_MESSAGE = 4 << 20;
const REQUEST = 1;
const RESPONSE = 2;

/** An error a handler answers with: a gRPC status code and its message. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A unary method: the request's payload in, the response's out. */
export type Handler = (payload: Buffer) => Promise<Uint8Array>;

interface RequestMessage {
  service: string;
  method: string;
  payload: Buffer;
}

interface ResponseMessage {
  status: { code: number; message: string } | null;
  payload: Buffer;
}

function frame(stream: number, type: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(HEADER + payload.length);
  b.writeUInt32BE(payload.length, 0);
  b.writeUInt32BE(stream, 4);
  b.writeUInt8(type, 8);
  Buffer.from(payload.buffer, payload.byteOffset, payload.length).copy(b, HEADER);
  return b;
}

/**
 * Splits a connection's bytes into frames: calls onFrame(stream, type, payload) for each,
 * onError once for a frame over the limit (the connection is then useless: its caller ends it).
 */
function frames(socket: Socket, onFrame: (stream: number, type: number, payload: Buffer) => void, onError: (err: Error) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= HEADER) {
      const length = pending.readUInt32BE(0);
      if (length > MAX_MESSAGE) {
        onError(new Error(`ttrpc: a message of ${length} bytes, over the limit of ${MAX_MESSAGE}`));
        return;
      }
      if (pending.length < HEADER + length) break;
      const stream = pending.readUInt32BE(4);
      const type = pending.readUInt8(8);
      const payload = pending.subarray(HEADER, HEADER + length);
      pending = pending.subarray(HEADER + length);
      onFrame(stream, type, payload);
    }
  });
}

/** Serves methods ("service/method" → handler) on a unix socket. */
export class TtrpcServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly methods: ReadonlyMap<string, Handler>,
    private readonly onConnectionError: (err: Error) => void = () => {},
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens on path (which must not exist) or on a socket already bound and listening (fd). */
  listen(where: { path: string } | { fd: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      const done = (): void => {
        this.server.off("error", reject);
        resolve();
      };
      if ("path" in where) this.server.listen(where.path, done);
      else this.server.listen({ fd: where.fd }, done);
    });
  }

  /** Stops listening and ends every connection. */
  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", (err) => this.onConnectionError(err));
    frames(
      socket,
      (stream, type, payload) => {
        if (type !== REQUEST) return;
        void this.answer(socket, stream, payload);
      },
      (err) => {
        this.onConnectionError(err);
        socket.destroy();
      },
    );
  }

  private async answer(socket: Socket, stream: number, bytes: Buffer): Promise<void> {
    let response: { status?: { code: number; message: string }; payload?: Uint8Array };
    try {
      const req = decode<RequestMessage>("ttrpc.Request", bytes);
      const handler = this.methods.get(`${req.service}/${req.method}`);
      if (handler === undefined) throw new RpcError(Code.UNIMPLEMENTED, `${req.service}/${req.method} is not served by this shim`);
      response = { payload: await handler(req.payload) };
    } catch (err) {
      response = { status: err instanceof RpcError ? { code: err.code, message: err.message } : { code: Code.UNKNOWN, message: (err as Error).message ?? String(err) } };
    }
    if (!socket.destroyed) socket.write(frame(stream, RESPONSE, encode("ttrpc.Response", response)));
  }
}

/** A ttrpc client on one connection: unary calls, answered by stream id. */
export class TtrpcClient {
  private next = 1;
  private readonly waiting = new Map<number, { resolve(b: Buffer): void; reject(e: Error): void }>();
  private closed: Error | undefined;

  private constructor(private readonly socket: Socket) {
    const fail = (err: Error): void => {
      this.closed = err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("ttrpc: connection closed")));
    frames(
      socket,
      (stream, type, payload) => {
        const w = this.waiting.get(stream);
        if (type !== RESPONSE || w === undefined) return;
        this.waiting.delete(stream);
        const r = decode<ResponseMessage>("ttrpc.Response", payload);
        if (r.status !== null && r.status.code !== Code.OK) w.reject(new RpcError(r.status.code, r.status.message));
        else w.resolve(r.payload);
      },
      (err) => {
        fail(err);
        socket.destroy();
      },
    );
  }

  /** Connects to the unix socket path. */
  static connect(path: string): Promise<TtrpcClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once("error", reject);
      s.once("connect", () => {
        s.off("error", reject);
        resolve(new TtrpcClient(s));
      });
    });
  }

  /** Calls service/method with payload: the response's payload, or the error the server answered. */
  call(service: string, method: string, payload: Uint8Array): Promise<Buffer> {
    if (this.closed !== undefined) return Promise.reject(this.closed);
    const stream = this.next;
    this.next += 2;
    return new Promise((resolve, reject) => {
      this.waiting.set(stream, { resolve, reject });
      this.socket.write(frame(stream, REQUEST, encode("ttrpc.Request", { service, method, payload })));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
