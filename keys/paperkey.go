package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// Paperkey renders a key file or a master private key for printing
// (formats.md 8.6). format is "text" or "html".
func Paperkey(data []byte, format, subject string) (string, error) {
	if format != "text" && format != "html" {
		return "", fmt.Errorf("unknown paperkey output format %q (text or html)", format)
	}
	text := string(data)
	trimmed := strings.TrimSpace(text)
	if strings.HasPrefix(trimmed, "-----BEGIN ENCRYPTED PRIVATE KEY-----") || strings.HasPrefix(trimmed, "-----BEGIN RSA PRIVATE KEY-----") {
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if l = strings.TrimRight(l, " \t\r"); l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) < 20 {
			return "", errors.New("master key PEM is too short (less than 20 lines)")
		}
		if format == "text" {
			return masterText(lines, subject)
		}
		return masterHTML(lines, subject)
	}
	kc, err := ParseKeyConfig(data)
	if err != nil {
		return "", err
	}
	pretty, err := json.MarshalIndent(kc, "", "  ")
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(pretty), "\n")
	if format == "text" {
		return keyText(lines, subject)
	}
	return keyHTML(lines, subject)
}

func qr(lines []string) (*qrcode.QRCode, error) {
	q, err := qrcode.New(strings.Join(lines, "\n"), qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("QR code: %w", err)
	}
	q.DisableBorder = true
	return q, nil
}

// qrText draws the code with half blocks, two module rows per line, as
// upstream's qrencode -t utf8i does: dark modules are drawn (for light text
// on a dark terminal), no quiet zone.
func qrText(lines []string) (string, error) {
	q, err := qr(lines)
	if err != nil {
		return "", err
	}
	bm := q.Bitmap()
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		for x := range bm[y] {
			top := bm[y][x]
			bottom := y+1 < len(bm) && bm[y+1][x]
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// qrSVG draws the code as an SVG image, base64 without padding for a data URI.
func qrSVG(lines []string) (string, error) {
	q, err := qr(lines)
	if err != nil {
		return "", err
	}
	bm := q.Bitmap()
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" shape-rendering="crispEdges">`+"\n", len(bm), len(bm), len(bm), len(bm))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", len(bm), len(bm))
	b.WriteString(`<path fill="#000000" d="`)
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d,%dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString("\"/>\n</svg>\n")
	return base64.RawStdEncoding.EncodeToString(b.Bytes()), nil
}

func keyText(lines []string, subject string) (string, error) {
	var b strings.Builder
	if subject != "" {
		fmt.Fprintf(&b, "Subject: %s\n\n", subject)
	}
	b.WriteString("-----BEGIN PROXMOX BACKUP KEY-----\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("-----END PROXMOX BACKUP KEY-----\n")
	code, err := qrText(lines)
	if err != nil {
		return "", err
	}
	b.WriteString(code)
	b.WriteString("\n")
	return b.String(), nil
}

func masterText(lines []string, subject string) (string, error) {
	var b strings.Builder
	if subject != "" {
		fmt.Fprintf(&b, "Subject: %s\n\n", subject)
	}
	for start := 0; start < len(lines); start += 5 {
		block := lines[start:min(start+5, len(lines))]
		for i, l := range block {
			fmt.Fprintf(&b, "%2d: %s\n", start+i, l)
		}
		code, err := qrText(block)
		if err != nil {
			return "", err
		}
		b.WriteString(code)
		b.WriteString("\f\n")
	}
	return b.String(), nil
}

const htmlHead = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Proxmox Backup Paperkey</title>
<style type="text/css">
  p {
    font-size: 12pt;
    font-family: monospace;
    white-space: pre-wrap;
    line-break: anywhere;
  }
</style>
</head>
<body>
`

func keyHTML(lines []string, subject string) (string, error) {
	var b strings.Builder
	b.WriteString(htmlHead)
	if subject != "" {
		fmt.Fprintf(&b, "<p>Subject: %s</p>\n", escapeText(subject))
	}
	b.WriteString(`<div style="page-break-inside: avoid">` + "\n<p>\n-----BEGIN PROXMOX BACKUP KEY-----\n")
	for _, l := range lines {
		b.WriteString(escapeText(l) + "\n")
	}
	b.WriteString("-----END PROXMOX BACKUP KEY-----\n</p>\n")
	svg, err := qrSVG(lines)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "<center>\n<img\nwidth=\"500pt\" height=\"500pt\"\nsrc=\"data:image/svg+xml;base64,%s\"/>\n</center>\n</div>\n</body>\n</html>\n", svg)
	return b.String(), nil
}

func masterHTML(lines []string, subject string) (string, error) {
	var b strings.Builder
	b.WriteString(htmlHead)
	if subject != "" {
		fmt.Fprintf(&b, "<p>Subject: %s</p>\n", escapeText(subject))
	}
	for start := 0; start < len(lines); start += 20 {
		block := lines[start:min(start+20, len(lines))]
		b.WriteString(`<div style="page-break-inside: avoid;page-break-after: always">` + "\n<p>\n")
		for i, l := range block {
			fmt.Fprintf(&b, "%02d: %s\n", start+i, escapeText(l))
		}
		b.WriteString("</p>\n")
		svg, err := qrSVG(block)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "<center>\n<img\nwidth=\"500pt\" height=\"500pt\"\nsrc=\"data:image/svg+xml;base64,%s\"/>\n</center>\n</div>\n", svg)
	}
	b.WriteString("</body>\n</html>\n")
	return b.String(), nil
}

// escapeText escapes what HTML text needs escaped (&, <, >); quotes stay,
// so the key's JSON reads as upstream prints it.
func escapeText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
