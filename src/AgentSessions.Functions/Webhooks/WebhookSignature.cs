using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// The webhook signature: <c>X-Webhook-Signature: sha256=&lt;lowercase hex HMAC-SHA256(secret, "&lt;timestamp&gt;.&lt;body&gt;")&gt;</c>,
/// where <c>&lt;timestamp&gt;</c> is the <c>X-Webhook-Timestamp</c> header (Unix seconds, as sent) and
/// <c>&lt;body&gt;</c> the raw request body bytes. The secret is the UTF-8 bytes of <c>WEBHOOK_SIGNING_SECRET</c>.
/// </summary>
public static class WebhookSignature
{
    public const string Prefix = "sha256=";

    /// <summary>The <c>X-Webhook-Signature</c> header value, <c>sha256=…</c>.</summary>
    public static string Sign(string secret, long timestamp, ReadOnlySpan<byte> body) =>
        Prefix + Convert.ToHexStringLower(Compute(secret, timestamp.ToString(CultureInfo.InvariantCulture), body));

    /// <summary>
    /// True when <paramref name="signatureHeader"/> is the signature of <paramref name="timestamp"/> and
    /// <paramref name="body"/> under <paramref name="secret"/>. Compares in constant time.
    /// </summary>
    public static bool Verify(string secret, long timestamp, ReadOnlySpan<byte> body, string? signatureHeader) =>
        Verify(secret, timestamp.ToString(CultureInfo.InvariantCulture), body, signatureHeader);

    /// <summary>
    /// What a receiver does: the timestamp header must be Unix seconds within <paramref name="tolerance"/> of
    /// <paramref name="now"/> (against replays), and the signature must match. Compares in constant time.
    /// </summary>
    public static bool Verify(string secret, string? timestampHeader, ReadOnlySpan<byte> body, string? signatureHeader,
        DateTimeOffset now, TimeSpan tolerance)
    {
        if (!long.TryParse(timestampHeader, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return false;
        }

        if (Math.Abs(now.ToUnixTimeSeconds() - seconds) > tolerance.TotalSeconds)
        {
            return false;
        }

        return Verify(secret, timestampHeader, body, signatureHeader);
    }

    private static bool Verify(string secret, string timestamp, ReadOnlySpan<byte> body, string? signatureHeader)
    {
        ArgumentNullException.ThrowIfNull(secret);
        if (signatureHeader is null || !signatureHeader.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var hex = signatureHeader.AsSpan(Prefix.Length).Trim();
        if (hex.Length != HMACSHA256.HashSizeInBytes * 2)
        {
            return false;
        }

        Span<byte> presented = stackalloc byte[HMACSHA256.HashSizeInBytes];
        if (Convert.FromHexString(hex, presented, out _, out var written) != System.Buffers.OperationStatus.Done
            || written != presented.Length)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(presented, Compute(secret, timestamp, body));
    }

    private static byte[] Compute(string secret, string timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var prefix = Encoding.UTF8.GetBytes(timestamp + ".");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message);
    }
}
