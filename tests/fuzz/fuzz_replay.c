/* fuzz_replay.c: runs the fuzz target over files (the seed corpus and any
 * crash reproducers) without libFuzzer, so every build's ctest exercises
 * it, under the sanitizers in the sanitizer build. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	int files = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			fprintf(stderr, "cannot open %s\n", argv[i]);
			return 2;
		}
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			fseek(f, 0, SEEK_END);
			long n = ftell(f);
			fseek(f, 0, SEEK_SET);
			uint8_t *buf = malloc((size_t)n + 1);
			if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
				LLVMFuzzerTestOneInput(buf, (size_t)n);
			free(buf);
			fclose(f);
			files++;
		}
		closedir(d);
	}
	printf("fuzz_replay: %d inputs: 0 failed\n", files);
	return files > 0 ? 0 : 1;
}
