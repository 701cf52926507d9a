// The mount plan for `runsc-ts do`: the host root as the base, shaped by the policy.
//
// Everything a mount can enforce is enforced here, in the kernel, where no race reaches it
// (README, Security model: each rule at the cheapest layer that enforces it exactly): the read-only root, hidden paths, the private /tmp,
// a minimal /dev, a /proc of the sandbox's own PID namespace with the host-global knobs
// read-only or masked, and noexec where the workload can write.
import type { Policy } from "../../sentry/policy/schema.js";
import { basename, dirname } from "node:path";
import type { FilesystemRule } from "../../sentry/policy/schema.js";
import { literalPattern, matchRule, normalizePath, patternReaches } from "../../sentry/policy/paths.js";
import type { HostFs } from "./hostFs.js";
import { hostFs } from "./hostFs.js";
import { dedupe, depthOf, enclosing, indexOf, inOpaqueOf, opaqueOf, parsePathPattern } from "./ruleIndex.js";
export type { HostFs } from "./hostFs.js";
export { hostFs, mountPointsOf } from "./hostFs.js";
import { expandRules } from "./globs.js";
import type { InitRecord } from "./initConfig.js";
import { MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_REC } from "../../platform/abi/mount.js";
import { beginTree, deviceLinks, deviceNodes, DO_STAGING, MASKED_PATHS, newRoot, READONLY_PATHS, rebind, syntheticFiles, virtualProcRecords } from "./tree.js";


/** Where the new root is assembled (tree.ts: DO_STAGING). */
export const STAGING = DO_STAGING;
export const NEW_ROOT = newRoot(STAGING);


function inRoot(p: string): string {
  return p === "/" ? NEW_ROOT : NEW_ROOT + p;
}

/** Whether an exec allowlist lets anything under dir run. */
function execCovers(policy: Policy, dir: string): boolean {
  const allow = policy.process.exec?.allow;
  if (allow === undefined) return true;
  return allow.some((p) => patternReaches(p, dir));
}

/** What the mount plan asks of the host's tree (injectable for tests). */
/** Where the whiteouts of hidden entries are made (the staging tmpfs, before the pivot). */
const WHITEOUTS = `${STAGING}/absent`;
/** Trees the sandbox provides itself: never overlaid, nor bound again beneath an overlay. */
const OWN_TREES = ["/proc", "/dev", "/tmp"];

function under(path: string, dir: string): boolean {
  return dir === "/" || path === dir || path.startsWith(dir + "/");
}

/** A directory holding hidden entries, shown through a read-only overlay without them. */
interface AbsentDir {
  dir: string;
  names: string[];
}

/** Past this many entries a directory holding hidden paths keeps their masks. */
const SIBLINGS_MAX = 1024;

/**
 * Hidden means absent: neither stat nor readdir sees a hidden entry (ENOENT), while its
 * directory's other entries keep their inode, owner and mode. Two ways:
 *   overlays: where the directory is read-only anyway (a read-only root, a read or exec rule)
 *     and holds no mount point, a read-only overlay of it under a layer of whiteouts, one per
 *     hidden name (one mount);
 *   siblings: elsewhere (the root itself, which holds /proc and the like: a user namespace
 *     may not overlay a mount with mounts beneath it), the directory becomes opaque and each
 *     other entry is bound as the host has it, with the directory's access, symlinks made as
 *     symlinks. Such a directory takes no new entries.
 * A directory with more than SIBLINGS_MAX entries, or that the sandbox's ids cannot search,
 * keeps the masks (EACCES for a file, an empty directory). Under an overlay root, the
 * whiteouts of its upper layer (whiteoutsOf) are done already.
 */
function absentDirs(
  rules: readonly FilesystemRule[],
  policy: Policy,
  host: HostFs,
  whiteouts: ReadonlySet<string>,
): { overlays: AbsentDir[]; siblingRules: FilesystemRule[]; siblingLinks: { link: string; target: string }[] } {
  const deciding = new Map<string, FilesystemRule>();
  for (const r of rules) deciding.set(parsePathPattern(r.path).base, r);
  const byDir = new Map<string, Set<string>>();
  for (const [base, rule] of deciding) {
    if (rule.access !== "none" || base === "/" || whiteouts.has(base)) continue;
    if (host.kind(base) === undefined && host.symlink(base) === undefined) continue; // nothing there
    const dir = dirname(base);
    if (OWN_TREES.some((t) => under(dir, t)) || under(dir, "/sys")) continue;
    if (matchRule(rules, dir)?.rule.access === "none") continue; // hidden with it
    if (dir === "/" && deciding.has("/")) continue; // a rule on / binds the whole tree again
    if (host.realpath(dir) !== dir) continue; // the directory must be where its path says
    byDir.set(dir, (byDir.get(dir) ?? new Set()).add(basename(base)));
  }
  const overlays: AbsentDir[] = [];
  const siblingRules: FilesystemRule[] = [];
  const siblingLinks: { link: string; target: string }[] = [];
  if (byDir.size === 0) return { overlays, siblingRules, siblingLinks };
  const points = host.mountPoints();
  for (const [dir, hidden] of byDir) {
    // Under an overlay root what is not the overlay's own is a read-only bind of the host's.
    const access = matchRule(rules, dir)?.rule.access ?? (policy.filesystem.root === "writable" ? "read-write" : "read");
    const mountsBeneath = points.some((m) => m !== dir && under(m, dir));
    if ((access === "read" || access === "exec") && !mountsBeneath && !/[:,\\\n]/.test(dir)) {
      overlays.push({ dir, names: [...hidden].sort() });
      continue;
    }
    // Siblings for the root would replace an overlay root by a tmpfs: its entries keep masks.
    if (dir === "/" && policy.filesystem.root === "overlay") continue;
    const entries = host.list(dir);
    if (entries === undefined || entries.length === 0 || entries.length > SIBLINGS_MAX || !host.reachable(`${dir === "/" ? "" : dir}/${entries[0]!.name}`)) continue;
    siblingRules.push({ path: dir === "/" ? "/**" : `${literalPattern(dir)}/**`, access: "none" });
    for (const { name, type } of entries) {
      if (hidden.has(name) || (dir === "/" && OWN_TREES.includes(`/${name}`))) continue;
      const path = `${dir === "/" ? "" : dir}/${name}`;
      if (deciding.has(path)) continue; // the policy says itself
      if (type === "symlink") {
        const target = host.symlink(path);
        if (target !== undefined) siblingLinks.push({ link: path, target });
        continue;
      }
      siblingRules.push({ path: type === "dir" ? `${literalPattern(path)}/**` : literalPattern(path), access });
    }
  }
  return { overlays, siblingRules, siblingLinks };
}

/**
 * root: overlay — the hidden paths that become whiteouts in the overlay's upper layer
 * (native overlayRoot): those in a directory that is the overlay's own, where no rule binds
 * anything and no host mount lies, and with nothing visible beneath them. There they are
 * absent and their directory stays writable. The rest is hidden as under the other roots.
 */
function whiteoutsOf(rules: readonly FilesystemRule[], host: HostFs): string[] {
  const deciding = new Map<string, FilesystemRule>();
  for (const r of rules) deciding.set(parsePathPattern(r.path).base, r);
  const points = host.mountPoints().filter((m) => m !== "/");
  const out: string[] = [];
  for (const [base, rule] of deciding) {
    if (rule.access !== "none" || base === "/") continue;
    if (host.kind(base) === undefined && host.symlink(base) === undefined) continue; // nothing there
    const dir = dirname(base);
    if (OWN_TREES.some((t) => under(base, t)) || under(base, "/sys")) continue;
    if (matchRule(rules, dir) !== undefined) continue; // a rule decides the directory
    // Beneath a host mount: that mount is bound read-only, not overlaid. A mount point itself
    // (/run, a tmpfs on most machines) is not bound when hidden: its whiteout hides it.
    if (points.some((m) => m !== base && under(base, m))) continue;
    if (host.realpath(dir) !== dir) continue; // the directory must be where its path says
    if ([...deciding].some(([b, r]) => r.access !== "none" && b !== base && under(b, base))) continue; // visible paths beneath
    out.push(base);
  }
  return out.sort();
}

/** root: overlay — the whiteouts for the overlay's upper layer (see whiteoutsOf). */
export function overlayWhiteouts(policy: Policy, host: HostFs = hostFs): string[] {
  return whiteoutsOf(expandRules(policy.filesystem.rules), host);
}

/**
 * root: overlay — the policy's synthetic files the host lacks, in a directory the overlay
 * holds itself: made as empty files in its upper layer (native overlayRoot), so that the
 * file can be bound over them. (Under the other roots the path must exist.)
 */
export function overlayMountPoints(policy: Policy, host: HostFs = hostFs): string[] {
  const rules = expandRules(policy.filesystem.rules);
  const points = host.mountPoints().filter((m) => m !== "/");
  return policy.filesystem.files
    .map((f) => normalizePath(f.path))
    .filter((p) => {
      if (host.kind(p) !== undefined || host.symlink(p) !== undefined) return false;
      const dir = dirname(p);
      return host.kind(dir) === "dir" && host.realpath(dir) === dir && matchRule(rules, dir) === undefined && !points.some((m) => under(p, m));
    });
}

/**
 * The detached mounts runsc-ts passes to init with the config, by index (sandbox.ts): the
 * overlay root (filesystem.root: overlay), and the FUSE filesystem of the virtual /proc
 * files (filesystem.proc.virtualize), whose files are bound over their paths.
 */
export interface PassedMounts {
  readonly overlay?: number;
  readonly proc?: number;
}

/** The policy's view of the host's tree, made concrete for one `do` sandbox (planDoMounts). */
interface DoView {
  readonly policy: Policy;
  readonly host: HostFs;
  /** The path rules, globs expanded and symlinked paths resolved, least specific first. */
  readonly rules: readonly FilesystemRule[];
  /** Hidden directories with visible paths beneath: empty tmpfs mounts holding mount points. */
  readonly opaque: ReadonlySet<string>;
  /** root: overlay — hidden entries the overlay's upper layer holds as whiteouts. */
  readonly whiteouts: ReadonlySet<string>;
  /** Hidden entries made absent by an overlay of their directory, shallowest first. */
  readonly absent: AbsentDir[];
  /** Symlinks on the way to visible paths, as the host has them. */
  readonly links: readonly { link: string; target: string }[];
}

function viewOf(policy: Policy, host: HostFs): DoView {
  // Globs become the concrete paths they match on the host now (globs.ts); hidden entries
  // become absent (absentDirs).
  const expanded = expandRules(policy.filesystem.rules);
  // root: overlay — hidden entries the overlay's upper layer holds as whiteouts.
  const whiteouts = new Set(policy.filesystem.root === "overlay" ? whiteoutsOf(expanded, host) : []);
  const absent = absentDirs(expanded, policy, host, whiteouts);
  const sorted = [...expanded, ...absent.siblingRules].sort((a, b) => depthOf(a.path) - depthOf(b.path));

  // A hidden directory with visible paths beneath it ("/**: none" then "/usr/**: read") is
  // an empty tmpfs holding a mount point for each: "opaque". It is made read-only once
  // every mount point is in place. A visible path reached through a symlink (/bin/** where
  // /bin -> usr/bin) keeps the host's shape: the symlink is made in the tmpfs and the rule
  // applies to the path it resolves to, so every file has the path it has on the host.
  const first = opaqueOf(sorted);
  const links: { link: string; target: string }[] = [...absent.siblingLinks];
  const rules = dedupe(
    sorted.map((rule) => {
      const p = parsePathPattern(rule.path);
      if (rule.access === "none" || !inOpaqueOf(sorted, first, p.base)) return rule;
      const real = host.realpath(p.base);
      if (real === undefined || real === p.base) return rule;
      const parts = p.base.split("/").filter((c) => c !== "");
      for (let i = 1; i <= parts.length; i++) {
        const prefix = "/" + parts.slice(0, i).join("/");
        const target = host.symlink(prefix);
        if (target !== undefined) {
          links.push({ link: prefix, target });
          break;
        }
      }
      const literal = literalPattern(real);
      return { ...rule, path: p.subtree ? (real === "/" ? "/**" : `${literal}/**`) : literal };
    }),
  ).sort((a, b) => depthOf(a.path) - depthOf(b.path));
  return { policy, host, rules, opaque: opaqueOf(rules), whiteouts, absent: [...absent.overlays].sort((a, b) => depthOf(a.dir) - depthOf(b.dir)), links };
}

/** Whether the path's mount point lives in an opaque tmpfs (and must be created). */
function inOpaque(v: DoView, base: string): boolean {
  return inOpaqueOf(v.rules, v.opaque, base);
}

/** The directories leading to `base` inside the opaque tmpfs that encloses it, and its mount point. */
function mountPointChain(v: DoView, base: string, leaf: "dir" | "file"): InitRecord[] {
  const r: InitRecord[] = [];
  const e = parsePathPattern(enclosing(v.rules, base)!.path).base;
  const parts = base.split("/").filter((c) => c !== "");
  const skip = e === "/" ? 0 : e.split("/").length - 1;
  for (let i = skip + 1; i < parts.length; i++) r.push({ op: "mkdir", path: inRoot("/" + parts.slice(0, i).join("/")), mode: 0o755 });
  r.push(leaf === "dir" ? { op: "mkdir", path: inRoot(base), mode: 0o755 } : { op: "mkfile", path: inRoot(base), mode: 0o444 });
  return r;
}

/**
 * The mount records for a `do` sandbox. `host` tells what the host's paths are, for the
 * paths made visible inside a hidden directory.
 */
export function planDoMounts(policy: Policy, maskFile: string, host: HostFs = hostFs, passed: PassedMounts = {}): InitRecord[] {
  const v = viewOf(policy, host);
  // Nothing we mount may propagate back to the host.
  const r: InitRecord[] = [...beginTree(STAGING, maskFile, MS_PRIVATE), ...rootRecords(v, passed), ...procAndDevRecords(policy)];
  if (policy.filesystem.tmp) {
    const noexecTmp = execCovers(policy, "/tmp") ? 0 : MS_NOEXEC;
    r.push({ op: "mount", source: "tmpfs", target: inRoot("/tmp"), fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV | noexecTmp, data: "mode=1777" });
  }
  r.push(...ruleRecords(v));
  r.push(...tailRecords(v));
  // The virtual /proc files, last (/sys may be bound above).
  r.push(...virtualProcRecords(policy, passed.proc, STAGING, inRoot));
  r.push({ op: "pivot", root: NEW_ROOT });
  return r;
}

/** The new root: an opaque tmpfs, the overlay runsc-ts made, or the host's root bound. */
function rootRecords(v: DoView, passed: PassedMounts): InitRecord[] {
  const { policy, host, opaque, whiteouts } = v;
  const r: InitRecord[] = [];
  if (opaque.has("/")) {
    // Nothing of the host's root is visible but what the rules name.
    r.push({ op: "mount", source: "tmpfs", target: NEW_ROOT, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV, data: "mode=0755,size=64k" });
    for (const d of ["/proc", "/dev", "/tmp"]) r.push({ op: "mkdir", path: inRoot(d), mode: d === "/tmp" ? 0o1777 : 0o755 });
  } else if (policy.filesystem.root === "overlay") {
    // The overlay runsc-ts made (sandbox.ts: native overlayRoot), passed to init first. It
    // shows the host's root filesystem alone: the host's other mounts are bound onto it,
    // read-only, as the base never changes.
    if (passed.overlay === undefined) throw new Error("filesystem.root: overlay needs the overlay mount passed to init");
    r.push({ op: "attach", index: passed.overlay, path: NEW_ROOT });
    const points = host.mountPoints().filter((m) => m !== "/" && !OWN_TREES.some((t) => under(m, t)) && ![...whiteouts].some((w) => under(m, w)));
    for (const m of new Set(points.filter((m) => !points.some((o) => o !== m && under(m, o))))) {
      r.push({ op: "mount", source: m, target: inRoot(m), fstype: "", flags: MS_BIND | MS_REC, data: "", optional: true });
      r.push({ op: "setattr", path: inRoot(m), set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, clear: 0, recursive: true, optional: true });
    }
  } else {
    r.push({ op: "mount", source: "/", target: NEW_ROOT, fstype: "", flags: MS_BIND | MS_REC, data: "" });
    const rootAttrs = MOUNT_ATTR_NOSUID | (policy.filesystem.root === "readonly" ? MOUNT_ATTR_RDONLY : 0);
    r.push({ op: "setattr", path: NEW_ROOT, set: rootAttrs, clear: 0, recursive: true });
  }

  return r;
}

/** /proc of the sandbox's PID namespace, host-global knobs read-only, leaks masked; a minimal /dev. */
function procAndDevRecords(policy: Policy): InitRecord[] {
  const r: InitRecord[] = [];
  const noexecShm = execCovers(policy, "/dev/shm") ? 0 : MS_NOEXEC;
  r.push({ op: "mount", source: "proc", target: inRoot("/proc"), fstype: "proc", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: "" });
  for (const p of READONLY_PATHS) r.push(...rebind(inRoot(p), MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
  for (const p of MASKED_PATHS) r.push({ op: "hide", path: inRoot(p) });

  // A minimal /dev: the standard nodes, a private devpts and /dev/shm.
  const dev = inRoot("/dev");
  r.push({ op: "mount", source: "tmpfs", target: dev, fstype: "tmpfs", flags: MS_NOSUID | MS_NOEXEC, data: "mode=0755,size=64k" });
  r.push(...deviceNodes(dev, true));
  r.push({ op: "mkdir", path: `${dev}/pts`, mode: 0o755 });
  r.push({ op: "mount", source: "devpts", target: `${dev}/pts`, fstype: "devpts", flags: MS_NOSUID | MS_NOEXEC, data: "newinstance,ptmxmode=0666,mode=0620" });
  r.push({ op: "mkdir", path: `${dev}/shm`, mode: 0o1777 });
  r.push({ op: "mount", source: "tmpfs", target: `${dev}/shm`, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV | noexecShm, data: "mode=1777" });
  r.push(...deviceLinks(dev));
  r.push({ op: "setattr", path: dev, set: MOUNT_ATTR_RDONLY, clear: 0, recursive: false });

  return r;
}

/**
 * Path rules, least specific first so that deeper rules are mounted on top, with the
 * absent directories' overlays in depth order among them. A path inside an opaque directory
 * is bound from the host's own tree (the sandbox's copy is covered there) onto a mount point
 * made for it.
 */
function ruleRecords(v: DoView): InitRecord[] {
  const { rules, opaque, whiteouts, host } = v;
  const r: InitRecord[] = [];
  const absentLater = [...v.absent];
  // Hidden entries made absent by an overlay (absentDirs): whiteouts in the staging tmpfs, a
  // read-only overlay of the directory over them. A failed overlay leaves the directory as
  // it was, and the hidden entries get their masks below.
  let whiteoutDirs = 0;
  const emitAbsent = (a: AbsentDir): void => {
    if (whiteoutDirs === 0) r.push({ op: "mkdir", path: WHITEOUTS, mode: 0o755 });
    const layer = `${WHITEOUTS}/${whiteoutDirs++}`;
    r.push({ op: "mkdir", path: layer, mode: 0o755 });
    for (const name of a.names) r.push({ op: "whiteout", path: `${layer}/${name}` });
    r.push({ op: "mount", source: "overlay", target: inRoot(a.dir), fstype: "overlay", flags: MS_NOSUID, data: `lowerdir=${layer}:${a.dir}`, optional: "any" });
  };

  const emitAbsentUpTo = (depth: number): void => {
    while (absentLater.length > 0 && depthOf(absentLater[0]!.dir) < depth) {
      const a = absentLater.shift()!;
      emitAbsent(a);
      const access = matchRule(rules, a.dir)?.rule.access;
      r.push({ op: "setattr", path: inRoot(a.dir), set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, clear: access === "exec" ? MOUNT_ATTR_NOEXEC : 0, recursive: true, optional: true });
    }
  };
  for (const rule of rules) {
    const base = parsePathPattern(rule.path).base;
    emitAbsentUpTo(depthOf(rule.path));
    if (base === "/" && opaque.has("/")) continue;
    const target = inRoot(base);
    const fresh = inOpaque(v, base);
    // The host's own tree (a directory above may be an overlay, which takes no writes), but
    // for what the sandbox provides itself.
    let source = OWN_TREES.some((t) => under(base, t)) ? target : base;
    if (fresh) {
      if (rule.access === "none" && !opaque.has(base)) continue; // never made visible
      const k = host.kind(base);
      if (k === undefined || !host.reachable(base)) continue; // nothing there the sandbox could reach
      r.push(...mountPointChain(v, base, k));
      source = base;
    }
    if (opaque.has(base)) {
      // One tmpfs, from the rule that decides the path (the later one for the same path).
      if (indexOf(rules).get(base) === rule) {
        r.push({ op: "mount", source: "tmpfs", target, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV, data: "mode=0755,size=64k", optional: true });
      }
      continue;
    }
    // A new bind of the host's tree has the host's flags: nosuid always, read-only as the
    // access says. (Read-write needs nothing cleared: the host's writable mounts are, and its
    // read-only ones stay so, as a user namespace may not make them writable.)
    const bind = (set: number, clear: number): void => {
      r.push({ op: "mount", source, target, fstype: "", flags: MS_BIND | MS_REC, data: "", optional: true });
      r.push({ op: "setattr", path: target, set: set | MOUNT_ATTR_NOSUID, clear, recursive: true, optional: true });
    };
    switch (rule.access) {
      case "none":
        // A whiteout hides it only in the overlay: under an opaque root the overlay is not there.
        if (!whiteouts.has(base) || opaque.has("/")) r.push({ op: "hide", path: target });
        break;
      case "read":
        bind(MOUNT_ATTR_RDONLY, 0);
        break;
      case "read-write":
        // Beneath the sandbox's own trees the source is the sandbox's view, which may have
        // been made read-only above.
        bind(0, source === target ? MOUNT_ATTR_RDONLY : 0);
        break;
      case "exec":
        bind(MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOEXEC);
        break;
    }
  }
  emitAbsentUpTo(Number.MAX_SAFE_INTEGER);

  return r;
}

/** Synthetic files, the symlinks on the way to visible paths, and opaque directories closed. */
function tailRecords(v: DoView): InitRecord[] {
  const { policy, opaque } = v;
  const r: InitRecord[] = [];
  // Synthetic files: written to the staging tmpfs, bound read-only over their path (which
  // must exist: a read-only root cannot grow a new file; an overlay root has it made,
  // overlayMountPoints).
  syntheticFiles(r, policy, STAGING, (path) => {
    if (inOpaque(v, normalizePath(path))) r.push(...mountPointChain(v, normalizePath(path), "file"));
    return inRoot(path);
  });
  // Symlinks on the way to visible paths, as the host has them.
  for (const { link, target } of v.links) {
    if (!inOpaque(v, link)) continue;
    const parent = link.slice(0, link.lastIndexOf("/")) || "/";
    if (parent !== "/" && inOpaque(v, parent)) r.push(...mountPointChain(v, parent, "dir"));
    r.push({ op: "symlink", target, link: inRoot(link) });
  }
  // Opaque directories take no new entries from the workload.
  for (const base of opaque) {
    r.push({ op: "setattr", path: inRoot(base), set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, clear: 0, recursive: false, optional: true });
  }
  return r;
}
