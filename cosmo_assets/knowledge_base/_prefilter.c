/* The Wikidata scan's byte tests, compiled: what wikidata_scan.BlockScanner does to every line before it
 * parses one, without the Python interpreter's cost per line (about half the scan's time).
 *
 * For each line of a block in the dump's own layout (`{...},`) it reads the id, cuts the labels of the plan's
 * languages out of the labels object and, when every domain filters on classes, reads the instance-of classes
 * from the P31 claim, and so settles lexemes, properties and lines outside every domain, which are most of a
 * full dump. It answers only when a line is written exactly as dumps write it; a line in any other layout,
 * or one it cannot settle, is handed back to the Python scanner (which does the same tests in general form),
 * so the two give the same extract. Nothing here allocates per line but the labels kept.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <string.h>

#define ID_WINDOW 300
#define LABELS_WINDOW (ID_WINDOW + 200)
#define REDIRECT_BYTES 1000
#define MAX_LANGUAGES 64
#define MAX_CLASSES 4096

/* What Python is asked to do with a line. */
#define WHOLE_LINE 0 /* every test, from the line's shape on */
#define AFTER_LABELS 1 /* the tests after the labels (redirect, classes, parse): its id and labels are done */
#define CANDIDATE 2 /* as AFTER_LABELS, but its P31 claim, in the dump's layout, names a domain's class */

typedef struct {
    const char *bytes[MAX_LANGUAGES];
    Py_ssize_t size[MAX_LANGUAGES];
    int count;
} Names;

static const char *find(const char *from, const char *to, const char *needle, size_t size) {
    if (to - from < (Py_ssize_t)size) return NULL;
    return memmem(from, to - from, needle, size);
}

static int starts(const char *at, const char *to, const char *literal, size_t size) {
    return to - at >= (Py_ssize_t)size && memcmp(at, literal, size) == 0;
}

#define STARTS(at, to, lit) starts((at), (to), (lit), sizeof(lit) - 1)
/* Steps `p` over the literal if it stands there, else returns 0 from the function. */
#define EAT(p, to, lit)                        \
    do {                                       \
        if (!STARTS((p), (to), (lit))) return 0; \
        (p) += sizeof(lit) - 1;                \
    } while (0)
#define FIND(from, to, lit) find((from), (to), (lit), sizeof(lit) - 1)

/* The id of the line [a, b) as wikidata_scan._entity_id reads it in the usual case: the first `"id":"` in
 * the first ID_WINDOW bytes, then [QPL][0-9]+ and a quote within 40 bytes of it. 0 when it is not so. */
static int entity_id(const char *a, const char *b, const char **id, Py_ssize_t *size) {
    const char *window = b - a < ID_WINDOW ? b : a + ID_WINDOW;
    const char *at = FIND(a, window, "\"id\":\"");
    if (!at) return 0;
    const char *v = at + sizeof("\"id\":\"") - 1, *limit = at + 40 < b ? at + 40 : b;
    const char *close = v < limit ? memchr(v, '"', limit - v) : NULL;
    if (!close || close - v < 2 || (*v != 'Q' && *v != 'P' && *v != 'L')) return 0;
    for (const char *c = v + 1; c < close; c++)
        if (*c < '0' || *c > '9') return 0;
    *id = v;
    *size = close - v;
    return 1;
}

/* A JSON string's body from `p` (after its opening quote) to its closing quote, checked as msgspec would
 * at least: no control bytes, escapes well formed (a surrogate escape is left to Python). The closing quote,
 * or NULL. */
static const char *string_end(const char *p, const char *to) {
    while (p < to) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p;
        if (c < 0x20) return NULL;
        if (c == '\\') {
            if (p + 1 >= to) return NULL;
            char e = p[1];
            if (e == 'u') {
                if (p + 6 > to) return NULL;
                int code = 0;
                for (int i = 2; i < 6; i++) {
                    char h = p[i];
                    int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (v < 0) return NULL;
                    code = code * 16 + v;
                }
                if (code >= 0xD800 && code <= 0xDFFF) return NULL;
                p += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
                p += 2;
            } else {
                return NULL;
            }
        } else {
            p++;
        }
    }
    return NULL;
}

/* The labels object whose entries start at `p` and whose closing brace is at `close`, walked entry by entry
 * in the dump's layout: "xx":{"language":"xx","value":"..."}. The plan's entries go to `entry`/`entry_size`
 * (by language). 1 when the object is exactly so, 0 when Python should read it. */
static int label_entries(const char *p, const char *close, const Names *languages, const char **entry, Py_ssize_t *entry_size) {
    if (p == close) return 1; /* {} */
    while (1) {
        if (p >= close || *p != '"') return 0;
        const char *code = p + 1, *c = code;
        while (c < close && ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) c++;
        Py_ssize_t code_size = c - code;
        const char *start = c + 2; /* the entry's own object, after the code's quote and the colon */
        if (code_size == 0) return 0;
        EAT(c, close, "\":{\"language\":\"");
        if (close - c < code_size || memcmp(c, code, code_size) != 0) return 0;
        c += code_size;
        EAT(c, close, "\",\"value\":\"");
        const char *quote = string_end(c, close);
        if (!quote || !STARTS(quote, close + 1, "\"}")) return 0;
        const char *after = quote + 2;
        for (int i = 0; i < languages->count; i++) {
            if (languages->size[i] == code_size && memcmp(languages->bytes[i], code, code_size) == 0) {
                if (entry[i]) return 0; /* a language twice: Python's decoder says which wins */
                entry[i] = start;
                entry_size[i] = after - start;
                break;
            }
        }
        if (after == close) return 1;
        if (after > close || *after != ',') return 0;
        p = after + 1;
    }
}

/* A growing buffer of label rows. */
typedef struct {
    char *bytes;
    Py_ssize_t size, capacity;
} Rows;

static int reserve(Rows *rows, Py_ssize_t more) {
    if (rows->size + more <= rows->capacity) return 1;
    Py_ssize_t capacity = rows->capacity ? rows->capacity : 1 << 16;
    while (capacity < rows->size + more) capacity *= 2;
    char *bytes = PyMem_Realloc(rows->bytes, capacity);
    if (!bytes) {
        PyErr_NoMemory();
        return 0;
    }
    rows->bytes = bytes;
    rows->capacity = capacity;
    return 1;
}

/* Whether [p, end) is valid UTF-8 as Python's strict decoder reads it (no overlong forms, no surrogates,
 * nothing past U+10FFFF). */
static int valid_utf8(const unsigned char *p, const unsigned char *end) {
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        int more;
        unsigned int low = 0x80, high = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more = 1;
        else if (c == 0xE0) more = 2, low = 0xA0;
        else if (c >= 0xE1 && c <= 0xEC) more = 2;
        else if (c == 0xED) more = 2, high = 0x9F;
        else if (c >= 0xEE && c <= 0xEF) more = 2;
        else if (c == 0xF0) more = 3, low = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) more = 3;
        else if (c == 0xF4) more = 3, high = 0x8F;
        else return 0;
        if (end - p <= more || p[1] < low || p[1] > high) return 0;
        for (int i = 2; i <= more; i++)
            if (p[i] < 0x80 || p[i] > 0xBF) return 0;
        p += more + 1;
    }
    return 1;
}

/* The labels of the plan's languages appended to `rows` as a row "id<TAB>line<TAB>{...JSON...}\n" (nothing
 * when the line has none of them): 1. 0 (rows as they were, no exception) when Python should read them; -1
 * with an exception set. */
static int labels_of(const char *a, const char *b, const Names *languages, const char *id, Py_ssize_t id_size,
                     long long line, Rows *rows) {
    const char *window = b - a < LABELS_WINDOW ? b : a + LABELS_WINDOW;
    const char *key = FIND(a, window, "\"labels\":{");
    if (!key) return 0;
    const char *start = key + sizeof("\"labels\":{") - 1;
    const char *end = FIND(start, b, "},\"descriptions\":");
    if (!end) return 0;
    const char *entry[MAX_LANGUAGES] = {0};
    Py_ssize_t entry_size[MAX_LANGUAGES] = {0};
    if (!label_entries(start, end, languages, entry, entry_size)) return 0;
    Py_ssize_t total = id_size + 24 + 3;
    int kept = 0;
    for (int i = 0; i < languages->count; i++)
        if (entry[i]) {
            total += languages->size[i] + 4 + entry_size[i];
            kept++;
        }
    if (!kept) return 1;
    if (!reserve(rows, total)) return -1;
    char *w = rows->bytes + rows->size;
    memcpy(w, id, id_size);
    w += id_size;
    w += sprintf(w, "\t%lld\t{", line);
    char *text = w - 1;
    kept = 0;
    for (int i = 0; i < languages->count; i++) {
        if (!entry[i]) continue;
        if (kept++) *w++ = ',';
        *w++ = '"';
        memcpy(w, languages->bytes[i], languages->size[i]);
        w += languages->size[i];
        *w++ = '"';
        *w++ = ':';
        memcpy(w, entry[i], entry_size[i]);
        w += entry_size[i];
    }
    *w++ = '}';
    if (!valid_utf8((const unsigned char *)text, (const unsigned char *)w)) return 0; /* Python's reading says what to keep */
    *w++ = '\n';
    rows->size = w - rows->bytes;
    return 1;
}

/* One P31 statement at `at` (its `{"mainsnak":`), bounded by `end`, as wikidata_scan._P31_STATEMENT and
 * _P31_NO_VALUE read it: 1 with its numeric id in `digits`, 2 for "no value"/"unknown value", 0 otherwise. */
static int p31_statement(const char *at, const char *end, const char **digits, Py_ssize_t *size) {
    const char *p = at;
    EAT(p, end, "{\"mainsnak\":{\"snaktype\":\"");
    if (STARTS(p, end, "novalue\"") || STARTS(p, end, "somevalue\"")) {
        p += *p == 'n' ? sizeof("novalue\"") - 1 : sizeof("somevalue\"") - 1;
        EAT(p, end, ",\"property\":\"P31\"");
        return p < end && (*p == ',' || *p == '}') ? 2 : 0;
    }
    EAT(p, end, "value\",\"property\":\"P31\",");
    if (STARTS(p, end, "\"hash\":\"")) {
        p += sizeof("\"hash\":\"") - 1;
        while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) p++;
        EAT(p, end, "\",");
    }
    if (STARTS(p, end, "\"datatype\":\"wikibase-item\",")) p += sizeof("\"datatype\":\"wikibase-item\",") - 1;
    EAT(p, end, "\"datavalue\":{\"value\":{\"entity-type\":\"item\",\"numeric-id\":");
    const char *d = p;
    while (p < end && *p >= '0' && *p <= '9') p++;
    if (p == d) return 0;
    Py_ssize_t n = p - d;
    if (STARTS(p, end, ",\"id\":\"Q") && end - (p + 8) > n && memcmp(p + 8, d, n) == 0 && p[8 + n] == '"') p += 9 + n;
    if (p >= end || *p != '}') return 0;
    *digits = d;
    *size = n;
    return 1;
}

/* Whether the line names a class of the plan in its P31 claim (1 or 0), or -1 when Python should look. */
static int names_a_class(const char *a, const char *b, const Names *classes) {
    static const char claim_key[] = "\"P31\":[{\"mainsnak\":";
    const char *claim = FIND(a, b, claim_key);
    if (!claim) return -1;
    const char *end = FIND(claim + sizeof(claim_key) - 1, b, "\":[{\"mainsnak\":");
    if (!end) end = b;
    int found = 0;
    const char *at = claim + sizeof(claim_key) - 1 - 12; /* its first {"mainsnak": */
    while (at) {
        const char *following = FIND(at + 12, end, "{\"mainsnak\":");
        const char *digits;
        Py_ssize_t size;
        int kind = p31_statement(at, end, &digits, &size);
        if (kind == 0) return -1;
        if (kind == 1)
            for (int i = 0; i < classes->count; i++)
                if (classes->size[i] == size && memcmp(classes->bytes[i], digits, size) == 0) found = 1;
        at = following;
    }
    return found;
}

static int names_from(PyObject *tuple, Names *names, int limit, const char *what) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) > limit) {
        PyErr_Format(PyExc_ValueError, "%s: expected a tuple of at most %d bytes", what, limit);
        return 0;
    }
    names->count = (int)PyTuple_GET_SIZE(tuple);
    for (int i = 0; i < names->count; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s: expected bytes", what);
            return 0;
        }
        names->bytes[i] = PyBytes_AS_STRING(item);
        names->size[i] = PyBytes_GET_SIZE(item);
    }
    return 1;
}

static int append_new(PyObject *list, PyObject *item) {
    if (!item) return -1;
    int failed = PyList_Append(list, item);
    Py_DECREF(item);
    return failed;
}

PyDoc_STRVAR(scan_doc,
"scan(block, begin, end, first_line, languages, classes, row_bytes, by_class, label_base)\n\n"
"The lines of block[begin:end] (whole lines; the first is line first_line). languages: the plan's language\n"
"codes as bytes, in order; classes: the domains' classes as the digits of their numeric ids; by_class: every\n"
"domain filters on classes alone. Returns (counts, labels, handed): counts is (lines, newlines, lexemes,\n"
"properties, outside_domains) of the lines settled here; labels, the label rows of the items settled here\n"
"(\"id\\tline\\tJSON\\n\", line counted from label_base for the first line); handed lists (kind, start, end,\n"
"line, id) for Python: kind 0, the raw line [start, end) from its shape on; kind 1, the entity [start, end)\n"
"after its labels, with its id; kind 2, the same, when its P31 claim names a class.");

static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t begin, end, row_bytes;
    long long first_line, label_base;
    PyObject *language_tuple, *class_tuple;
    int by_class;
    if (!PyArg_ParseTuple(args, "y*nnLO!O!npL", &view, &begin, &end, &first_line, &PyTuple_Type, &language_tuple,
                          &PyTuple_Type, &class_tuple, &row_bytes, &by_class, &label_base))
        return NULL;
    PyObject *handed = NULL, *result = NULL;
    Rows rows = {NULL, 0, 0};
    Names languages, classes;
    if (!names_from(language_tuple, &languages, MAX_LANGUAGES, "languages")) goto done;
    if (!names_from(class_tuple, &classes, MAX_CLASSES, "classes")) goto done;
    if (begin < 0 || end > view.len || begin > end) {
        PyErr_SetString(PyExc_ValueError, "begin and end must lie within the block");
        goto done;
    }
    handed = PyList_New(0);
    if (!handed) goto done;
    const char *block = view.buf, *start = block + begin, *stop = block + end;
    long long line_no = first_line, lines = 0, lexemes = 0, properties = 0, outside = 0;
    while (start < stop) {
        const char *newline = memchr(start, '\n', stop - start);
        const char *line_end = newline ? newline : stop;
        const char *a = start, *b = line_end - 1;
        int kind = -1; /* settled here */
        const char *id = NULL;
        Py_ssize_t id_size = 0;
        if (!(line_end - start >= 3 && *a == '{' && *b == ',' && b[-1] == '}') || !entity_id(a, b, &id, &id_size)) {
            kind = WHOLE_LINE;
        } else if (*id == 'L') {
            lines++;
            lexemes++;
        } else {
            if (b - a <= row_bytes) {
                int read = labels_of(a, b, &languages, id, id_size, label_base + (line_no - first_line), &rows);
                if (read < 0) goto done;
                if (read == 0) kind = WHOLE_LINE; /* Python reads its labels, and all that follows */
            }
            if (kind != WHOLE_LINE) {
                lines++;
                if (*id == 'P') {
                    properties++;
                } else if (!by_class || (b - a < REDIRECT_BYTES && FIND(a, b, "\"redirects\""))) {
                    kind = AFTER_LABELS;
                } else {
                    int named = names_a_class(a, b, &classes);
                    if (named == 0)
                        outside++;
                    else
                        kind = named == 1 ? CANDIDATE : AFTER_LABELS; /* -1: a P31 claim written otherwise */
                }
            }
        }
        if (kind == WHOLE_LINE) {
            if (append_new(handed, Py_BuildValue("(innLO)", WHOLE_LINE, (Py_ssize_t)(start - block), (Py_ssize_t)(line_end - block),
                                                 line_no, Py_None)) < 0)
                goto done;
        } else if (kind >= 0) {
            PyObject *qid = PyUnicode_DecodeASCII(id, id_size, NULL);
            if (!qid || append_new(handed, Py_BuildValue("(innLN)", kind, (Py_ssize_t)(a - block), (Py_ssize_t)(b - block),
                                                        line_no, qid)) < 0)
                goto done;
        }
        line_no++;
        start = line_end + 1;
    }
    result = Py_BuildValue("(LLLLL)y#O", lines, line_no - first_line, lexemes, properties, outside,
                           rows.bytes ? rows.bytes : "", rows.size, handed);
done:
    Py_XDECREF(handed);
    PyMem_Free(rows.bytes);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_prefilter", "The Wikidata scan's byte tests, compiled.", -1, methods,
                                     NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__prefilter(void) { return PyModule_Create(&module); }
