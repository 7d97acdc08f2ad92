/*
 * emit.c -- dlcoll-info's writer: plain text or JSON from the same calls.
 *
 * Text: "title:" then one "  key  value" line per field; a list prints one
 * line per item, its first field first and the others as key=value.
 * JSON: {"section": {"key": value, "list": [{...}, ...]}, ...}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples/info/info.h"

struct info_out {
    int json;
    int depth;        /* JSON: 0 top, 1 in a section, 2 in a list, 3 in an item */
    int first[4];     /* JSON: no member written yet at this depth */
    int in_item;      /* text: an item's line is open */
    int item_fields;  /* text: fields written on the open item's line */
    int sections;     /* text: sections begun (a blank line between them) */
};

info_out *info_out_new(int json)
{
    info_out *o = calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    o->json = json;
    if (json) {
        fputs("{", stdout);
        o->first[0] = 1;
    }
    return o;
}

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* JSON: the separator and the key of the next member at the current depth. */
static void json_member(info_out *o, const char *key)
{
    if (!o->first[o->depth])
        putchar(',');
    o->first[o->depth] = 0;
    if (key != NULL) {
        json_string(key);
        putchar(':');
    }
}

static void json_close_to(info_out *o, int depth)
{
    while (o->depth > depth) {
        putchar(o->depth == 2 ? ']' : '}');
        o->depth--;
    }
}

static void text_end_item(info_out *o)
{
    if (o->in_item)
        putchar('\n');
    o->in_item = 0;
}

void info_out_section(info_out *o, const char *name, const char *title)
{
    if (o->json) {
        json_close_to(o, 0);
        json_member(o, name);
        putchar('{');
        o->depth = 1;
        o->first[1] = 1;
        return;
    }
    text_end_item(o);
    printf("%s%s:\n", o->sections++ ? "\n" : "", title ? title : name);
}

static void field(info_out *o, const char *key, const char *json_value, const char *text)
{
    if (o->json) {
        json_member(o, key);
        fputs(json_value, stdout);
        return;
    }
    if (o->in_item) {
        if (o->item_fields++ == 0)
            printf("    %-18s", text);
        else
            printf(" %s=%s", key, text);
        return;
    }
    printf("  %-22s %s\n", key, text);
}

void info_out_str(info_out *o, const char *key, const char *value)
{
    if (o->json) {
        json_member(o, key);
        if (value == NULL)
            fputs("null", stdout);
        else
            json_string(value);
        return;
    }
    if (value == NULL && o->in_item)
        return; /* text: an item's line leaves out what it does not have */
    field(o, key, "", value ? value : "-");
}

void info_out_int(info_out *o, const char *key, long long value)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", value);
    field(o, key, buf, buf);
}

void info_out_bool(info_out *o, const char *key, int value)
{
    field(o, key, value ? "true" : "false", value ? "yes" : "no");
}

void info_out_list(info_out *o, const char *key, const char *title)
{
    if (o->json) {
        json_close_to(o, 1);
        json_member(o, key);
        putchar('[');
        o->depth = 2;
        o->first[2] = 1;
        return;
    }
    text_end_item(o);
    printf("  %s:\n", title ? title : key);
}

void info_out_item(info_out *o)
{
    if (o->json) {
        json_close_to(o, 2);
        json_member(o, NULL);
        putchar('{');
        o->depth = 3;
        o->first[3] = 1;
        return;
    }
    text_end_item(o);
    o->in_item = 1;
    o->item_fields = 0;
}

void info_out_end_list(info_out *o)
{
    if (o->json) {
        json_close_to(o, 1);
        return;
    }
    text_end_item(o);
}

void info_out_finish(info_out *o)
{
    if (o->json) {
        json_close_to(o, 0);
        fputs("}\n", stdout);
    } else {
        text_end_item(o);
    }
    fflush(stdout);
    free(o);
}
