"""The ``cpuid-stub`` backend: CPUID and XGETBV as ~40 bytes of x86-64 machine code in an
anonymous page, written RW and then ``mprotect``-ed to RX (never writable and executable at once),
called through ctypes. The fallback when the C extension (``cpuid-native``) is not installed.

Refused under MemoryDenyWriteExecute / ``PR_SET_MDWE`` (``mprotect`` fails with EACCES/EPERM) and
SELinux ``execmem``: we detect that and fall back, never work around it.

Sources: Intel SDM vol. 2A "CPUID", "XGETBV"; ``prctl(2)`` PR_SET_MDWE = 65.
"""

from __future__ import annotations

import _thread  # not threading: its import costs ~0.6 ms of the `condition` start-up
import errno
import os

from config_reloader.errors import BackendUnavailable

TYPE_CHECKING = False  # mypy treats this as True
if TYPE_CHECKING:
    from config_reloader.cpu.cpuid import Regs

__all__ = ["StubCpuid"]

# cpuid(leaf=edi, subleaf=esi, out=rdx) -> void:
#   push rbx; mov r8,rdx; mov eax,edi; mov ecx,esi; cpuid;
#   mov [r8],eax; mov [r8+4],ebx; mov [r8+8],ecx; mov [r8+12],edx; pop rbx; ret
_CPUID_CODE = bytes.fromhex("53 4989d0 89f8 89f1 0fa2 418900 41895804 41894808 4189500c 5b c3")
# xgetbv(xcr=edi) -> uint64:  mov ecx,edi; xgetbv; shl rdx,32; or rax,rdx; ret
_XGETBV_CODE = bytes.fromhex("89f9 0f01d0 48c1e220 4809d0 c3")
_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4
_MAP_PRIVATE, _MAP_ANONYMOUS = 0x02, 0x20
_PAGE = 4096


class StubCpuid:
    """CPUID/XGETBV via an RW→RX machine-code page; answers for the CPU the calling thread runs on.

    Raises:
        BackendUnavailable: not x86-64, or executable memory refused (MemoryDenyWriteExecute,
            PR_SET_MDWE, SELinux execmem): ``reason`` names the errno.
    """

    name = "cpuid-stub"

    def __init__(self) -> None:
        import ctypes

        machine = os.uname().machine  # not platform.machine(): importing platform costs ~1 ms
        if machine not in ("x86_64", "AMD64"):
            raise BackendUnavailable(
                "the CPUID stub is x86-64 code", backend=self.name, reason=f"machine is {machine}"
            )
        libc = ctypes.CDLL(None, use_errno=True)
        mmap_ = libc.mmap
        mmap_.restype = ctypes.c_void_p
        mmap_.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_long,
        ]
        mprotect = libc.mprotect
        mprotect.restype = ctypes.c_int
        mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self._munmap = libc.munmap
        self._munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        addr = mmap_(None, _PAGE, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            e = ctypes.get_errno()
            raise BackendUnavailable(
                f"mmap failed: {os.strerror(e)}", backend=self.name, reason=errno.errorcode.get(e, str(e))
            )
        ctypes.memmove(addr, _CPUID_CODE, len(_CPUID_CODE))
        ctypes.memmove(addr + 64, _XGETBV_CODE, len(_XGETBV_CODE))
        if mprotect(addr, _PAGE, _PROT_READ | _PROT_EXEC) != 0:
            e = ctypes.get_errno()
            self._munmap(addr, _PAGE)
            raise BackendUnavailable(
                f"cannot make the CPUID stub executable ({os.strerror(e)}): executable memory is "
                "refused here (MemoryDenyWriteExecute= / PR_SET_MDWE?)",
                backend=self.name,
                reason=errno.errorcode.get(e, str(e)),
            )
        self._addr = addr
        self._buf = (ctypes.c_uint32 * 4)()
        self._cpuid = ctypes.CFUNCTYPE(
            None, ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32)
        )(addr)
        self._xgetbv = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint32)(addr + 64)
        self._lock = _thread.allocate_lock()

    def cpuid(self, leaf: int, subleaf: int) -> Regs:
        with self._lock:
            self._cpuid(leaf, subleaf, self._buf)
            b = self._buf
            return (int(b[0]), int(b[1]), int(b[2]), int(b[3]))

    def xgetbv(self, xcr: int = 0) -> int | None:
        # Only call after checking OSXSAVE (xcr0_of does): XGETBV faults with #UD otherwise.
        return int(self._xgetbv(xcr))
