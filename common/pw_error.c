/* pw_error.c: text for the PW_E* codes, generated from PW_ERRNO_MAP. */
#include "pw_error.h"

const char *pw_strerror(int code)
{
	switch (code) {
	case 0: return "success";
#define PW_ERR_CASE(name, value, text)                                                                                 \
	case value: return text;
		PW_ERRNO_MAP(PW_ERR_CASE)
#undef PW_ERR_CASE
	default: return "unknown error";
	}
}
