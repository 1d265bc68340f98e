/*
 * config_reloader.cpu._cpuid: the CPUID and XGETBV instructions, and sched_getcpu(3).
 *
 * Optional: when it cannot be built (no C compiler or Python headers at install time), the cpu
 * package falls back to its ctypes backends. It exists because it is both cheaper to load than
 * ctypes + libffi (the `condition` command runs as ExecCondition= on every service start) and
 * allowed where executable memory is not (MemoryDenyWriteExecute=, PR_SET_MDWE): the ctypes stub
 * has to write machine code into a page and make it executable; this code is mapped executable
 * by the dynamic loader like any other library.
 *
 * CPUID always takes the subleaf in ECX (leaves 4, 7, 0xB, 0xD, 0xF, 0x10, 0x12, 0x14, 0x17,
 * 0x18, 0x1D, 0x1F, 0x20, 0x24 have subleaves; the others ignore ECX). XGETBV faults (#UD) unless
 * CPUID.1:ECX.OSXSAVE[27] is set: the caller checks it (config_reloader.cpu.cpuid.xcr0_of).
 * Sources: Intel SDM vol. 2A "CPUID" and "XGETBV"; GCC <cpuid.h>.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define HAVE_CPUID 1

static PyObject *
cr_cpuid(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned int eax, ebx, ecx, edx;
    unsigned long leaf, subleaf;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "cpuid(leaf, subleaf) takes 2 arguments");
        return NULL;
    }
    leaf = PyLong_AsUnsignedLong(args[0]);
    if (leaf == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    subleaf = PyLong_AsUnsignedLong(args[1]);
    if (subleaf == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    if (leaf > 0xFFFFFFFFUL || subleaf > 0xFFFFFFFFUL) {
        PyErr_SetString(PyExc_OverflowError, "leaf and subleaf are 32-bit values");
        return NULL;
    }
    __cpuid_count((unsigned int)leaf, (unsigned int)subleaf, eax, ebx, ecx, edx);
    return Py_BuildValue("(IIII)", eax, ebx, ecx, edx);
}

static PyObject *
cr_xgetbv(PyObject *module, PyObject *arg)
{
    unsigned long xcr = PyLong_AsUnsignedLong(arg);
    unsigned int lo, hi;

    if (xcr == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    if (xcr > 0xFFFFFFFFUL) {
        PyErr_SetString(PyExc_OverflowError, "xcr is a 32-bit value");
        return NULL;
    }
    /* The opcode rather than the mnemonic: assemblers without XSAVE support accept it too. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"((unsigned int)xcr));
    return PyLong_FromUnsignedLongLong(((unsigned long long)hi << 32) | lo);
}
#endif

static PyObject *
cr_sched_getcpu(PyObject *module, PyObject *unused)
{
    int cpu = sched_getcpu();

    if (cpu < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(cpu);
}

static PyMethodDef cr_methods[] = {
#ifdef HAVE_CPUID
    {"cpuid", (PyCFunction)(void (*)(void))cr_cpuid, METH_FASTCALL,
     "cpuid(leaf, subleaf) -> (eax, ebx, ecx, edx) on the CPU the calling thread runs on."},
    {"xgetbv", cr_xgetbv, METH_O,
     "xgetbv(xcr) -> int: XCR[xcr], 64 bits. Only when CPUID.1:ECX.OSXSAVE is set."},
#endif
    {"sched_getcpu", cr_sched_getcpu, METH_NOARGS,
     "sched_getcpu() -> int: the CPU the calling thread runs on (OSError on failure)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef cr_module = {
    PyModuleDef_HEAD_INIT,
    "config_reloader.cpu._cpuid",
    "CPUID, XGETBV and sched_getcpu(3) (x86 only: cpuid and xgetbv).",
    0,
    cr_methods,
};

PyMODINIT_FUNC
PyInit__cpuid(void)
{
    return PyModuleDef_Init(&cr_module);
}
