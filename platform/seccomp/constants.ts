// Classic BPF and seccomp ABI constants: opcodes, return actions, seccomp_data layout.
//
// Values are those of the Linux UAPI headers cited on each group; they are part of the
// kernel ABI and never change. The filter assembler's own; the constants every layer shares
// (errno, signals, seccomp(2)'s flags) are in platform/abi/.

// ---------------------------------------------------------------------------------------
// Seccomp filter return values (include/uapi/linux/seccomp.h).
//
// The upper 16 bits select the action, the lower 16 bits carry data (an errno for ERRNO,
// a value for TRAP/TRACE). When several filters are stacked the kernel takes the least
// permissive action, comparing the full action as a signed value (kernel/seccomp.c
// seccomp_run_filters), which is why KILL_PROCESS is 0x80000000.
// ---------------------------------------------------------------------------------------

/** Kill the whole process (thread group). */
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
/** Kill the calling thread only. Also what a program that divides by zero returns. */
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
/** Deliver SIGSYS to the thread; the low 16 bits go to si_errno. */
export const SECCOMP_RET_TRAP = 0x00030000;
/** Fail the syscall with -(low 16 bits), clamped to MAX_ERRNO by the kernel. */
export const SECCOMP_RET_ERRNO = 0x00050000;
/** Suspend the thread and notify the listener (seccomp_unotify(2)). */
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
/** Notify a ptrace tracer (PTRACE_EVENT_SECCOMP); the low 16 bits are the event message. */
export const SECCOMP_RET_TRACE = 0x7ff00000;
/** Allow after logging (kernel.seccomp.actions_logged). */
export const SECCOMP_RET_LOG = 0x7ffc0000;
/** Allow. */
export const SECCOMP_RET_ALLOW = 0x7fff0000;

/** Mask of the action part of a return value, sign bit included. */
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
/** Mask of the action part without the sign bit (legacy). */
export const SECCOMP_RET_ACTION = 0x7fff0000;
/** Mask of the data part of a return value. */
export const SECCOMP_RET_DATA = 0x0000ffff;

/** Largest errno the kernel passes through; larger ERRNO data is clamped (include/linux/err.h). */
export { MAX_ERRNO } from "../abi/errno.js";

// ---------------------------------------------------------------------------------------
// Classic BPF instruction encoding (include/uapi/linux/bpf_common.h, include/uapi/linux/filter.h).
//
// struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; } — 8 bytes, host byte order.
// code = class | size | mode (loads), class | op | src (ALU, JMP), class | rval (RET).
// ---------------------------------------------------------------------------------------

/** Size in bytes of struct sock_filter. */
export const SOCK_FILTER_SIZE = 8;
/** Longest program the kernel accepts (include/uapi/linux/bpf_common.h). */
export const BPF_MAXINSNS = 4096;
/** Number of scratch memory words M[] (include/uapi/linux/filter.h). */
export const BPF_MEMWORDS = 16;
/** Longest offset a conditional jump can encode in its u8 jt/jf fields. */
export const BPF_MAX_COND_JUMP = 255;

// Instruction classes: BPF_CLASS(code) = code & 0x07.
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

// Load sizes: BPF_SIZE(code) = code & 0x18.
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;

// Load modes: BPF_MODE(code) = code & 0xe0.
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;

// ALU operations: BPF_OP(code) = code & 0xf0.
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
/** Classic BPF has it, but seccomp's checker rejects it (kernel/seccomp.c seccomp_check_filter). */
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;

// Jump operations: BPF_OP(code) = code & 0xf0.
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

// Operand source: BPF_SRC(code) = code & 0x08.
export const BPF_K = 0x00;
export const BPF_X = 0x08;

// Return value source: BPF_RVAL(code) = code & 0x18.
export const BPF_A = 0x10;

// Miscellaneous operations: BPF_MISCOP(code) = code & 0xf8.
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

/** BPF_CLASS(code). */
export function bpfClass(code: number): number {
  return code & 0x07;
}
/** BPF_SIZE(code). */
export function bpfSize(code: number): number {
  return code & 0x18;
}
/** BPF_MODE(code). */
export function bpfMode(code: number): number {
  return code & 0xe0;
}
/** BPF_OP(code). */
export function bpfOp(code: number): number {
  return code & 0xf0;
}
/** BPF_SRC(code). */
export function bpfSrc(code: number): number {
  return code & 0x08;
}

// ---------------------------------------------------------------------------------------
// struct seccomp_data (include/uapi/linux/seccomp.h), the only input a seccomp filter sees:
//
//   struct seccomp_data {
//       int   nr;                    // offset 0
//       __u32 arch;                  // offset 4, AUDIT_ARCH_*
//       __u64 instruction_pointer;   // offset 8
//       __u64 args[6];               // offset 16 + 8*i
//   };
//
// Filters load 32-bit words only, in host byte order: on x86_64 (little-endian) the low
// word of a 64-bit field is at +0 and the high word at +4.
// ---------------------------------------------------------------------------------------

/** sizeof(struct seccomp_data). */
export const SECCOMP_DATA_SIZE = 64;
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
export const SECCOMP_DATA_IP_LO = 8;
export const SECCOMP_DATA_IP_HI = 12;
export const SECCOMP_DATA_ARGS = 16;
/** Number of syscall arguments in seccomp_data. */
export const SECCOMP_DATA_NARGS = 6;

/** Offset of the low 32 bits of args[i]. */
export function seccompArgLo(i: number): number {
  return SECCOMP_DATA_ARGS + 8 * i;
}
/** Offset of the high 32 bits of args[i]. */
export function seccompArgHi(i: number): number {
  return SECCOMP_DATA_ARGS + 8 * i + 4;
}

// ---------------------------------------------------------------------------------------
// Architectures (include/uapi/linux/audit.h, include/uapi/linux/elf-em.h) and the x32 bit
// (arch/x86/include/uapi/asm/unistd.h).
// ---------------------------------------------------------------------------------------

export { AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT } from "../abi/sysno_amd64.js";
