/*
 * PyEval_CallObject for durable-rules 2.0.28 on CPython 3.13 and later.
 *
 * Why this exists: durable-rules 2.0.28 (the last release on the package index) calls
 * PyEval_CallObject in src/rulespy/rules.c. Up to CPython 3.12 that name was a macro for
 * PyEval_CallObjectWithKeywords(callable, args, NULL); CPython 3.13 deleted the macro, so the
 * compiler takes the call for an external function and durable_rules_engine.so is left with an
 * undefined symbol that makes its import fail. gbrules loads this library with RTLD_GLOBAL
 * (gbrules/core/backends/loader.py) before importing durable_rules_engine, and only after that
 * import has failed for exactly this reason, so the dynamic linker binds the call here.
 *
 * gbrules itself never makes durable_rules call it (the call sits in the storage and queue
 * callbacks of durable's own host layer), but the function is exact all the same: it is what
 * the 3.12 macro expanded to. Remove this file when a durable-rules release builds on 3.13
 * (see docs/PYTHON.md).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(__GNUC__) || defined(__clang__)
#define GBRULES_EXPORT __attribute__((visibility("default")))
#else
#define GBRULES_EXPORT
#endif

#if PY_VERSION_HEX >= 0x030D0000
/* Before 3.13 Python.h defines PyEval_CallObject as a macro, so the name is free only here. */
GBRULES_EXPORT PyObject *PyEval_CallObject(PyObject *callable, PyObject *args);

GBRULES_EXPORT PyObject *PyEval_CallObject(PyObject *callable, PyObject *args) {
    return PyObject_CallObject(callable, args);
}
#define GBRULES_PROVIDES 1
#else
#define GBRULES_PROVIDES 0
#endif

static struct PyModuleDef shim_module = {
    PyModuleDef_HEAD_INIT,
    "_pyeval_shim",
    "PyEval_CallObject for durable-rules 2.0.28 on CPython 3.13+ (loaded with RTLD_GLOBAL).",
    -1,
    NULL,
};

PyMODINIT_FUNC PyInit__pyeval_shim(void) {
    PyObject *module = PyModule_Create(&shim_module);
    if (module != NULL && PyModule_AddIntConstant(module, "PROVIDES_PYEVAL_CALLOBJECT",
                                                  GBRULES_PROVIDES) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
