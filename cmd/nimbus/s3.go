package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/cobra"
)

func newS3Command(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "s3",
		Short: "Copy, list and remove objects without the AWS CLI (cp, ls, rm)",
	}
	var recursive bool
	cp := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy a file to a bucket, an object to a file, or an object to another key (s3://bucket/key)",
		Long: "Copy between local paths and s3://bucket/key. With --recursive, SRC is a directory or a key prefix and\n" +
			"every file or object under it is copied, keeping the relative path. A DST ending in / (or a local\n" +
			"directory) takes the source's base name.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.s3Client(cmd)
			if err != nil {
				return err
			}
			return s3Copy(cmd.Context(), c, cmd.OutOrStdout(), args[0], args[1], recursive)
		},
	}
	ls := &cobra.Command{
		Use:   "ls [s3://bucket[/prefix]]",
		Short: "List buckets, or the objects and common prefixes under a prefix",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.s3Client(cmd)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return s3ListBuckets(cmd.Context(), c, cmd.OutOrStdout())
			}
			bucket, prefix, ok := parseS3URL(args[0])
			if !ok {
				return fmt.Errorf("%s is not an s3://bucket/prefix URL", args[0])
			}
			return s3List(cmd.Context(), c, cmd.OutOrStdout(), bucket, prefix, recursive)
		},
	}
	rm := &cobra.Command{
		Use:   "rm s3://bucket/key",
		Short: "Delete an object, or with --recursive every object under a prefix",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.s3Client(cmd)
			if err != nil {
				return err
			}
			bucket, key, ok := parseS3URL(args[0])
			if !ok {
				return fmt.Errorf("%s is not an s3://bucket/key URL", args[0])
			}
			return s3Remove(cmd.Context(), c, cmd.OutOrStdout(), bucket, key, recursive)
		},
	}
	for _, c := range []*cobra.Command{cp, ls, rm} {
		c.Flags().BoolVarP(&recursive, "recursive", "r", false, "every file or object under the path or prefix")
	}
	cmd.AddCommand(cp, ls, rm)
	return cmd
}

// s3Client is an S3 client for the platform (path style), signed with the
// CLI's key.
func (g *globals) s3Client(cmd *cobra.Command) (*awss3.Client, error) {
	creds, ok := g.credentials(cmd)
	if !ok {
		return nil, fmt.Errorf("no key to sign with: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --data to the directory of a platform on this machine")
	}
	cfg := aws.Config{Region: region(), BaseEndpoint: aws.String(strings.TrimRight(g.endpoint, "/")),
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	return awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = true }), nil
}

// parseS3URL splits s3://bucket/key.
func parseS3URL(s string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, bucket != ""
}

func s3ListBuckets(ctx context.Context, c *awss3.Client, w io.Writer) error {
	out, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil {
		return err
	}
	for _, b := range out.Buckets {
		fmt.Fprintf(w, "%s %s\n", aws.ToTime(b.CreationDate).Local().Format("2006-01-02 15:04:05"), aws.ToString(b.Name))
	}
	return nil
}

func s3List(ctx context.Context, c *awss3.Client, w io.Writer, bucket, prefix string, recursive bool) error {
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if !recursive {
		in.Delimiter = aws.String("/")
	}
	pages := awss3.NewListObjectsV2Paginator(c, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, p := range page.CommonPrefixes {
			fmt.Fprintf(w, "%30s %s\n", "PRE", strings.TrimPrefix(aws.ToString(p.Prefix), prefixDir(prefix, recursive)))
		}
		for _, o := range page.Contents {
			fmt.Fprintf(w, "%s %10d %s\n", aws.ToTime(o.LastModified).Local().Format("2006-01-02 15:04:05"), aws.ToInt64(o.Size),
				strings.TrimPrefix(aws.ToString(o.Key), prefixDir(prefix, recursive)))
		}
	}
	return nil
}

// prefixDir is the part of a listing's prefix that names are shown
// relative to, as aws s3 ls shows them: up to its last slash.
func prefixDir(prefix string, recursive bool) string {
	if recursive {
		return ""
	}
	return prefix[:strings.LastIndex(prefix, "/")+1]
}

// eachKey calls fn for every key under prefix.
func eachKey(ctx context.Context, c *awss3.Client, bucket, prefix string, fn func(key string) error) error {
	pages := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}

func s3Remove(ctx context.Context, c *awss3.Client, w io.Writer, bucket, key string, recursive bool) error {
	if !recursive {
		if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			return err
		}
		fmt.Fprintf(w, "delete: s3://%s/%s\n", bucket, key)
		return nil
	}
	// Keys are collected first: deleting while paging would shift the pages.
	var keys []string
	if err := eachKey(ctx, c, bucket, key, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids}})
		if err != nil {
			return err
		}
		for _, d := range out.Deleted {
			fmt.Fprintf(w, "delete: s3://%s/%s\n", bucket, aws.ToString(d.Key))
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete s3://%s/%s: %s: %s", bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		keys = keys[n:]
	}
	return nil
}

func s3Copy(ctx context.Context, c *awss3.Client, w io.Writer, src, dst string, recursive bool) error {
	sb, sk, srcS3 := parseS3URL(src)
	db, dk, dstS3 := parseS3URL(dst)
	if !srcS3 && !dstS3 {
		return errors.New("one of SRC and DST must be an s3://bucket/key URL (for local copies use cp)")
	}
	if !recursive {
		switch {
		case !srcS3:
			if strings.HasSuffix(dk, "/") || dk == "" {
				dk += filepath.Base(src)
			}
			return upload(ctx, c, w, src, db, dk)
		case !dstS3:
			if st, err := os.Stat(dst); (err == nil && st.IsDir()) || strings.HasSuffix(dst, string(filepath.Separator)) {
				dst = filepath.Join(dst, path.Base(sk))
			}
			return download(ctx, c, w, sb, sk, dst)
		default:
			if strings.HasSuffix(dk, "/") || dk == "" {
				dk += path.Base(sk)
			}
			return copyObject(ctx, c, w, sb, sk, db, dk)
		}
	}
	switch {
	case !srcS3:
		return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			return upload(ctx, c, w, p, db, joinKey(dk, filepath.ToSlash(rel)))
		})
	case !dstS3:
		return eachKey(ctx, c, sb, sk, func(k string) error {
			rel := strings.TrimPrefix(strings.TrimPrefix(k, sk), "/")
			if rel == "" || strings.HasSuffix(k, "/") {
				return nil // a "directory" marker object
			}
			local := filepath.Join(dst, filepath.FromSlash(rel))
			if !strings.HasPrefix(local, filepath.Clean(dst)+string(filepath.Separator)) {
				return fmt.Errorf("key %s would be written outside %s", k, dst)
			}
			return download(ctx, c, w, sb, k, local)
		})
	default:
		return eachKey(ctx, c, sb, sk, func(k string) error {
			return copyObject(ctx, c, w, sb, k, db, joinKey(dk, strings.TrimPrefix(strings.TrimPrefix(k, sk), "/")))
		})
	}
}

func joinKey(prefix, rel string) string {
	if prefix == "" || strings.HasSuffix(prefix, "/") {
		return prefix + rel
	}
	return prefix + "/" + rel
}

// upload sends a file with the SDK's transfer manager: files past its
// threshold (16 MiB) go as a multipart upload of parts sent in parallel, so a
// file above the 5 GiB limit of one PUT can be copied too, and a failed
// upload is aborted rather than left holding its parts.
func upload(ctx context.Context, c *awss3.Client, w io.Writer, file, bucket, key string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tm := transfermanager.New(c)
	if _, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f}); err != nil {
		return fmt.Errorf("upload %s to s3://%s/%s: %w", file, bucket, key, err)
	}
	fmt.Fprintf(w, "upload: %s to s3://%s/%s\n", file, bucket, key)
	return nil
}

func download(ctx context.Context, c *awss3.Client, w io.Writer, bucket, key, file string) error {
	out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("download s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	// Written beside the target and renamed, so a failed copy leaves no partial file.
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, out.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("download s3://%s/%s: %w", bucket, key, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	fmt.Fprintf(w, "download: s3://%s/%s to %s\n", bucket, key, file)
	return nil
}

func copyObject(ctx context.Context, c *awss3.Client, w io.Writer, sb, sk, db, dk string) error {
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String(db), Key: aws.String(dk),
		CopySource: aws.String(sb + "/" + escapeKey(sk))}); err != nil {
		return fmt.Errorf("copy s3://%s/%s to s3://%s/%s: %w", sb, sk, db, dk, err)
	}
	fmt.Fprintf(w, "copy: s3://%s/%s to s3://%s/%s\n", sb, sk, db, dk)
	return nil
}

// escapeKey URL-encodes a key for x-amz-copy-source, keeping its slashes.
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(url.PathEscape(p), "+", "%2B")
	}
	return strings.Join(parts, "/")
}
