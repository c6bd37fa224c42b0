/*
 * Optional accelerator for the Python worker's result encoder (see _accel.py, which builds it
 * with the system C compiler into the worker's cache folder and falls back to pure Python
 * when it cannot).
 *
 * shapely 1.8 keeps every geometry as its own GEOS object behind ctypes: reading 10,000 points
 * from Python costs one ctypes round trip per GEOS call (~1.5 us a point). Here the same GEOS
 * calls run in one C loop. No GEOS header or library is linked: the caller passes the addresses
 * of the GEOS functions and the context handle from shapely's own loaded libgeos (`lgeos`), so
 * the geometry pointers are only ever handed to the library that made them.
 *
 * Every function either finishes its loop or reports "not for me" (returns None / -1) before
 * touching GEOS, so the caller can take the pure path; none keeps references.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ACCEL_ABI 5

typedef int (*typeid_fn)(void *, const void *);
typedef const void *(*getseq_fn)(void *, const void *);
typedef int (*getsize_fn)(void *, const void *, unsigned int *);
typedef int (*getxyz_fn)(void *, const void *, unsigned int, double *, double *, double *);
typedef unsigned char *(*wkbwrite_fn)(void *, void *, const void *, size_t *);
typedef void (*geosfree_fn)(void *, void *);
typedef void (*destroy_fn)(void *, void *);

static PyObject *GEOM_ATTR; /* "__geom__": the GEOS pointer (int) of a shapely 1.8 geometry */
static PyObject *OWNED_ATTR, *EMPTY_FLAG_ATTR, *PARENT_ATTR;
/* set_destroy(): shapely's GEOS handle, GEOSGeom_destroy_r and its shared EMPTY geometry */
static void *D_handle, *D_destroy, *D_empty;

/* The GEOS pointer of a shapely 1.8 geometry: 1 and *out set, 0 for a null one (None / 0),
 * -1 (no exception set) when the attribute is not what shapely 1.8 stores. */
static int geom_ptr(PyObject *g, void **out) {
  PyObject *v = PyObject_GetAttr(g, GEOM_ATTR);
  if (!v) {
    PyErr_Clear();
    return -1;
  }
  int r;
  if (v == Py_None) {
    r = 0;
  } else if (PyLong_CheckExact(v)) {
    void *p = PyLong_AsVoidPtr(v);
    if (PyErr_Occurred()) {
      PyErr_Clear();
      r = -1;
    } else {
      *out = p;
      r = p ? 1 : 0;
    }
  } else {
    r = -1;
  }
  Py_DECREF(v);
  return r;
}

/*
 * The items of a list, or of a 1-D C-contiguous numpy object array through its buffer (format
 * "O": an array of PyObject pointers, which numpy columns of geometries and text are), as
 * borrowed references. Reading an array in place spares the caller its `tolist()` (~0.1 ms for
 * 10,000 items on a frame fresh from a UDF). No Python code runs while the items are read, so
 * neither container can change under the loop. Release with items_release().
 */
typedef struct {
  PyObject **items;
  Py_ssize_t n;
  Py_buffer view;
  int has_view;
} items_t;

static int items_get(PyObject *o, items_t *it) {
  it->has_view = 0;
  if (PyList_Check(o)) {
    it->items = ((PyListObject *)o)->ob_item;
    it->n = PyList_GET_SIZE(o);
    return 1;
  }
  if (PyObject_CheckBuffer(o) && PyObject_GetBuffer(o, &it->view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) == 0) {
    it->has_view = 1;
    if (it->view.format && strcmp(it->view.format, "O") == 0 && it->view.itemsize == (Py_ssize_t)sizeof(PyObject *) && it->view.ndim == 1) {
      it->items = (PyObject **)it->view.buf;
      it->n = it->view.len / it->view.itemsize;
      return 1;
    }
    PyBuffer_Release(&it->view);
    it->has_view = 0;
  }
  PyErr_Clear();
  PyErr_SetString(PyExc_TypeError, "expected a list or a 1-D C-contiguous object array");
  return 0;
}

static void items_release(items_t *it) {
  if (it->has_view) PyBuffer_Release(&it->view);
  it->has_view = 0;
}

static int get_fn(PyObject *o, void **out, const char *what) {
  void *p = PyLong_AsVoidPtr(o);
  if (PyErr_Occurred()) return 0;
  if (!p) {
    PyErr_Format(PyExc_ValueError, "null address for %s", what);
    return 0;
  }
  *out = p;
  return 1;
}

/*
 * point_coords(geoms: list | object array, point_type, handle, GEOSGeomTypeId_r, GEOSGeom_getCoordSeq_r,
 *              GEOSCoordSeq_getSize_r, GEOSCoordSeq_getXYZ_r, xy: writable float64 n*2,
 *              z: writable float64 n, valid: writable uint8 n) -> (valid rows, rows with a z) | None
 * Fills x, y, z (NaN for None / empty rows, z NaN for 2-D points) and valid (0 for None /
 * empty). None as soon as an item is neither None nor exactly `point_type` holding a GEOS
 * pointer (the caller then sends WKB instead).
 */
static PyObject *point_coords(PyObject *self, PyObject *args) {
  PyObject *geoms, *ptype, *oh, *o_tid, *o_seq, *o_size, *o_xyz;
  Py_buffer bxy, bz, bvalid;
  if (!PyArg_ParseTuple(args, "OOOOOOOw*w*w*", &geoms, &ptype, &oh, &o_tid, &o_seq, &o_size, &o_xyz, &bxy, &bz, &bvalid))
    return NULL;
  PyObject *res = NULL;
  items_t it;
  if (!items_get(geoms, &it)) {
    PyBuffer_Release(&bxy);
    PyBuffer_Release(&bz);
    PyBuffer_Release(&bvalid);
    return NULL;
  }
  Py_ssize_t n = it.n;
  void *h, *f_tid, *f_seq, *f_size, *f_xyz;
  if (!get_fn(oh, &h, "handle") || !get_fn(o_tid, &f_tid, "GEOSGeomTypeId_r") || !get_fn(o_seq, &f_seq, "GEOSGeom_getCoordSeq_r") ||
      !get_fn(o_size, &f_size, "GEOSCoordSeq_getSize_r") || !get_fn(o_xyz, &f_xyz, "GEOSCoordSeq_getXYZ_r"))
    goto done;
  if (bxy.len < (Py_ssize_t)(n * 2 * sizeof(double)) || bz.len < (Py_ssize_t)(n * sizeof(double)) || bvalid.len < n) {
    PyErr_SetString(PyExc_ValueError, "output buffers too small");
    goto done;
  }
  double *xy = (double *)bxy.buf, *zs = (double *)bz.buf;
  uint8_t *ok = (uint8_t *)bvalid.buf;
  Py_ssize_t count = 0, with_z = 0;
  int mine = 1;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *g = it.items[i];
    ok[i] = 0;
    xy[2 * i] = xy[2 * i + 1] = zs[i] = Py_NAN;
    if (g == Py_None) continue;
    if ((PyObject *)Py_TYPE(g) != ptype) {
      mine = 0;
      break;
    }
    void *p = NULL;
    int r = geom_ptr(g, &p);
    if (r < 0) {
      mine = 0;
      break;
    }
    if (r == 0) continue;
    int tid = ((typeid_fn)f_tid)(h, p);
    if (tid != 0) { /* shapely 1.8's empty Point() holds its shared empty collection */
      if (tid == -1) {
        mine = 0;
        break;
      }
      continue;
    }
    const void *seq = ((getseq_fn)f_seq)(h, p);
    unsigned int size = 0;
    if (!seq || !((getsize_fn)f_size)(h, seq, &size) || size < 1) continue; /* POINT EMPTY */
    double x, y, z;
    if (!((getxyz_fn)f_xyz)(h, seq, 0, &x, &y, &z)) continue;
    xy[2 * i] = x;
    xy[2 * i + 1] = y;
    zs[i] = z;
    ok[i] = 1;
    count++;
    if (z == z) with_z++;
  }
  if (mine) {
    res = Py_BuildValue("(nn)", count, with_z);
  } else {
    res = Py_None;
    Py_INCREF(res);
  }
done:
  items_release(&it);
  PyBuffer_Release(&bxy);
  PyBuffer_Release(&bz);
  PyBuffer_Release(&bvalid);
  return res;
}

/*
 * wkb_column(geoms: list | object array, base_type, handle, writer, GEOSWKBWriter_write_r, GEOSFree_r)
 *   -> (offsets: bytes, (n+1) x uint32 LE, data: bytes) | None
 * WKB of each geometry through shapely's own writer (same output as WKBWriter.write); None
 * and geometries GEOS cannot write become empty slices (null). None when an item is not a
 * `base_type` instance holding a GEOS pointer.
 */
static PyObject *wkb_column_items(PyObject **items, Py_ssize_t n, PyObject *btype, PyObject *oh, PyObject *ow, PyObject *o_write, PyObject *o_free);

static PyObject *wkb_column(PyObject *self, PyObject *args) {
  PyObject *geoms, *btype, *oh, *ow, *o_write, *o_free;
  if (!PyArg_ParseTuple(args, "OO!OOOO", &geoms, &PyType_Type, &btype, &oh, &ow, &o_write, &o_free)) return NULL;
  items_t it;
  if (!items_get(geoms, &it)) return NULL;
  PyObject *r = wkb_column_items(it.items, it.n, btype, oh, ow, o_write, o_free);
  items_release(&it);
  return r;
}

static PyObject *wkb_column_items(PyObject **items, Py_ssize_t n, PyObject *btype, PyObject *oh, PyObject *ow, PyObject *o_write, PyObject *o_free) {
  void *h, *w, *f_write, *f_free;
  if (!get_fn(oh, &h, "handle") || !get_fn(ow, &w, "writer") || !get_fn(o_write, &f_write, "GEOSWKBWriter_write_r") ||
      !get_fn(o_free, &f_free, "GEOSFree_r"))
    return NULL;
  if ((unsigned long long)n + 1 > UINT32_MAX) Py_RETURN_NONE;
  PyObject *offsets = PyBytes_FromStringAndSize(NULL, (n + 1) * 4);
  if (!offsets) return NULL;
  uint32_t *offs = (uint32_t *)PyBytes_AS_STRING(offsets);
  size_t cap = 21 * (size_t)n + 1024, len = 0; /* a 2-D point is 21 bytes; grows by doubling */
  char *data = PyMem_Malloc(cap);
  if (!data) {
    Py_DECREF(offsets);
    return PyErr_NoMemory();
  }
  offs[0] = 0;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *g = items[i];
    if (g != Py_None) {
      void *p = NULL;
      int r = PyObject_TypeCheck(g, (PyTypeObject *)btype) ? geom_ptr(g, &p) : -1;
      if (r < 0) {
        PyMem_Free(data);
        Py_DECREF(offsets);
        Py_RETURN_NONE;
      }
      if (r > 0) {
        size_t size = 0;
        unsigned char *wkb = ((wkbwrite_fn)f_write)(h, w, p, &size);
        if (wkb) {
          if (len + size > UINT32_MAX) {
            ((geosfree_fn)f_free)(h, wkb);
            PyMem_Free(data);
            Py_DECREF(offsets);
            Py_RETURN_NONE; /* over 4 GiB: the offsets cannot say it; the pure path raises clearly */
          }
          if (len + size > cap) {
            size_t ncap = cap * 2 > len + size ? cap * 2 : len + size;
            char *nd = PyMem_Realloc(data, ncap);
            if (!nd) {
              ((geosfree_fn)f_free)(h, wkb);
              PyMem_Free(data);
              Py_DECREF(offsets);
              return PyErr_NoMemory();
            }
            data = nd;
            cap = ncap;
          }
          memcpy(data + len, wkb, size);
          len += size;
          ((geosfree_fn)f_free)(h, wkb);
        }
      }
    }
    offs[i + 1] = (uint32_t)len;
  }
  PyObject *bytes = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
  PyMem_Free(data);
  if (!bytes) {
    Py_DECREF(offsets);
    return NULL;
  }
  return Py_BuildValue("(NN)", offsets, bytes);
}

/*
 * utf8_column(values: list | object array) -> (offsets: bytes, (n+1) x uint32 LE, data: bytes, nulls: int) | None
 * The UTF-8 of each str, None as an empty slice (counted in `nulls`); None when an item is
 * anything else.
 */
static PyObject *utf8_column_items(PyObject **items, Py_ssize_t n);

static PyObject *utf8_column(PyObject *self, PyObject *args) {
  PyObject *values;
  if (!PyArg_ParseTuple(args, "O", &values)) return NULL;
  items_t it;
  if (!items_get(values, &it)) return NULL;
  PyObject *r = utf8_column_items(it.items, it.n);
  items_release(&it);
  return r;
}

static PyObject *utf8_column_items(PyObject **items, Py_ssize_t n) {
  size_t total = 0;
  Py_ssize_t nulls = 0;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *v = items[i];
    if (v == Py_None) {
      nulls++;
      continue;
    }
    if (!PyUnicode_Check(v)) Py_RETURN_NONE;
    Py_ssize_t sz;
    if (!PyUnicode_AsUTF8AndSize(v, &sz)) {
      PyErr_Clear(); /* lone surrogates: the pure path reports them */
      Py_RETURN_NONE;
    }
    total += (size_t)sz;
  }
  if (total > UINT32_MAX || (unsigned long long)n + 1 > UINT32_MAX) Py_RETURN_NONE;
  PyObject *offsets = PyBytes_FromStringAndSize(NULL, (n + 1) * 4);
  if (!offsets) return NULL;
  PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
  if (!bytes) {
    Py_DECREF(offsets);
    return NULL;
  }
  uint32_t *offs = (uint32_t *)PyBytes_AS_STRING(offsets);
  char *out = PyBytes_AS_STRING(bytes);
  uint32_t pos = 0;
  offs[0] = 0;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *v = items[i];
    if (v != Py_None) {
      Py_ssize_t sz;
      const char *s = PyUnicode_AsUTF8AndSize(v, &sz); /* cached by the first pass */
      memcpy(out + pos, s, (size_t)sz);
      pos += (uint32_t)sz;
    }
    offs[i + 1] = pos;
  }
  return Py_BuildValue("(NNn)", offsets, bytes, nulls);
}

/*
 * set_destroy(handle, GEOSGeom_destroy_r, EMPTY) -> None: what free_geometry() needs.
 */
static PyObject *set_destroy(PyObject *self, PyObject *args) {
  PyObject *oh, *of, *oe;
  if (!PyArg_ParseTuple(args, "OOO", &oh, &of, &oe)) return NULL;
  void *h, *f, *e;
  if (!get_fn(oh, &h, "handle") || !get_fn(of, &f, "GEOSGeom_destroy_r") || !get_fn(oe, &e, "EMPTY")) return NULL;
  D_handle = h;
  D_destroy = f;
  D_empty = e;
  Py_RETURN_NONE;
}

/*
 * free_geometry(g) -> None: shapely 1.8's BaseGeometry.__del__ in C. Same steps:
 *   if not g._other_owned and g.__geom__ and g.__geom__ != EMPTY: GEOSGeom_destroy(g.__geom__)
 *   g._is_empty = True; g.__geom__ = None; g.__p__ = None
 * The attributes are set with object.__setattr__ (shapely's own __setattr__ only adds a
 * deprecation check for attributes that do not exist; these do). Never raises: like any
 * __del__, an error could only be printed.
 */
static PyObject *free_geometry(PyObject *self, PyObject *g) {
  if (!D_destroy) Py_RETURN_NONE;
  PyObject *et, *ev, *etb; /* an exception being handled by the caller survives a __del__ */
  PyErr_Fetch(&et, &ev, &etb);
  PyObject *owned = PyObject_GetAttr(g, OWNED_ATTR);
  int other = owned ? PyObject_IsTrue(owned) : 1; /* unknown: leave the GEOS object alone */
  Py_XDECREF(owned);
  if (other != 0) PyErr_Clear();
  if (other == 0) {
    void *p = NULL;
    if (geom_ptr(g, &p) > 0 && p != D_empty) ((destroy_fn)D_destroy)(D_handle, p);
  }
  if (PyObject_GenericSetAttr(g, EMPTY_FLAG_ATTR, Py_True) < 0 || PyObject_GenericSetAttr(g, GEOM_ATTR, Py_None) < 0 ||
      PyObject_GenericSetAttr(g, PARENT_ATTR, Py_None) < 0)
    PyErr_Clear();
  PyErr_Restore(et, ev, etb);
  Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"set_destroy", set_destroy, METH_VARARGS, "GEOS handle, GEOSGeom_destroy_r and EMPTY for free_geometry"},
    {"free_geometry", free_geometry, METH_O, "shapely 1.8's BaseGeometry.__del__, in C"},
    {"point_coords", point_coords, METH_VARARGS, "x, y, z of an all-Point shapely 1.8 column in one C loop"},
    {"wkb_column", wkb_column, METH_VARARGS, "WKB of a shapely 1.8 geometry column through shapely's writer"},
    {"utf8_column", utf8_column, METH_VARARGS, "offsets + UTF-8 bytes of a list of str / None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tilesmith_accel", NULL, -1, methods};

PyMODINIT_FUNC PyInit__tilesmith_accel(void) {
  GEOM_ATTR = PyUnicode_InternFromString("__geom__");
  OWNED_ATTR = PyUnicode_InternFromString("_other_owned");
  EMPTY_FLAG_ATTR = PyUnicode_InternFromString("_is_empty");
  PARENT_ATTR = PyUnicode_InternFromString("__p__");
  if (!GEOM_ATTR || !OWNED_ATTR || !EMPTY_FLAG_ATTR || !PARENT_ATTR) return NULL;
  PyObject *m = PyModule_Create(&module);
  if (m && PyModule_AddIntConstant(m, "ABI", ACCEL_ABI) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
