package datastore_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"cairn/core/datastore"
)

// An S3 datastore has no directories: creating one writes the .chunks/
// folder and then the .lock marker, nothing per chunk prefix. Like a path
// repository, an interrupted creation is finished by the next command and
// concurrent creations all succeed (issue 15).

func s3Objects(t *testing.T, c *minio.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, strings.TrimPrefix(o.Key, prefix))
	}
	sort.Strings(keys)
	return keys
}

func TestS3CreateIsSmallResumableAndConcurrent(t *testing.T) {
	m := startMinio(t)
	c, err := minio.New(m.Addr, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioPassword, ""), Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := smallTree(t)

	// Fresh: two objects, no prefix folders.
	cfg := s3Config(m, t, "fresh")
	if err := datastore.CreateS3(cfg); err != nil {
		t.Fatal(err)
	}
	if got := s3Objects(t, c, "fresh", "store/"); strings.Join(got, " ") != ".chunks/ .lock" {
		t.Fatalf("a new S3 datastore holds %q", got)
	}

	// Stopped after the bucket, and after the .chunks/ folder: the next
	// CreateS3, or a read's OpenS3, finishes it.
	for i, stop := range []string{"bucket", "folder"} {
		for _, next := range []string{"create", "open"} {
			bucket := fmt.Sprintf("stop%d-%s", i, next)
			if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			if stop == "folder" {
				if _, err := c.PutObject(ctx, bucket, "store/.chunks/", strings.NewReader(""), 0, minio.PutObjectOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			cfg := s3Config(m, t, bucket)
			if next == "create" {
				if err := datastore.CreateS3(cfg); err != nil {
					t.Fatalf("%s/%s: %v", stop, next, err)
				}
			}
			ds, err := datastore.OpenS3(cfg, "root@pam")
			if stop == "bucket" && next == "open" {
				// Nothing of the datastore was written: a read says so.
				if err == nil {
					t.Fatalf("opened a bucket that holds no datastore")
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s/%s: open: %v", stop, next, err)
			}
			if ok, err := datastore.ExistsS3(cfg); !ok || err != nil {
				t.Fatalf("%s/%s: not finished: %v %v", stop, next, ok, err)
			}
			if err := runBackup(t, ds, "elsa", 1000, src); err != nil {
				t.Fatalf("%s/%s: backup: %v", stop, next, err)
			}
			restoreAndCompare(t, ds, "host/elsa", src)
			ds.Close()
		}
	}

	// Four creators and backups at once into one new bucket.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := s3Config(m, t, "race")
			if errs[g] = datastore.CreateS3(cfg); errs[g] != nil {
				return
			}
			ds, err := datastore.OpenS3(cfg, "root@pam")
			if err != nil {
				errs[g] = err
				return
			}
			defer ds.Close()
			errs[g] = runBackup(t, ds, fmt.Sprint("g", g), 1000, src)
		}()
	}
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Fatalf("creator %d: %v", g, err)
		}
	}
}
