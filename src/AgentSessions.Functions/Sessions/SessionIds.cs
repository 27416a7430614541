namespace AgentSessions.Functions.Sessions;

/// <summary>
/// Instance ids are <c>owner:session-uuid</c>. Owner isolation is structural: a session id is only
/// ever looked up under the caller's own prefix, so another owner's session cannot resolve, and
/// listing is a prefix query.
/// </summary>
public static class SessionIds
{
    public static string InstanceId(string owner, string sessionId) => $"{owner}:{sessionId}";

    public static string OwnerPrefix(string owner) => $"{owner}:";

    /// <summary>Accepts only canonical lowercase UUIDs; anything else names no session.</summary>
    public static bool TryNormalize(string? raw, out string sessionId)
    {
        sessionId = string.Empty;
        if (raw is null || raw.Length != 36 || !Guid.TryParseExact(raw, "D", out var guid))
        {
            return false;
        }

        sessionId = guid.ToString("D");
        return true;
    }

    /// <summary>
    /// A UUID (version 5 layout, SHA-256 based) determined by owner and key, so a retried create
    /// with the same Idempotency-Key names the same session and different owners never collide.
    /// </summary>
    public static string FromIdempotencyKey(string owner, string key)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{owner}\n{key}"));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x50);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true).ToString("D");
    }

    public static string SessionIdOf(string instanceId) => instanceId[(instanceId.IndexOf(':') + 1)..];
}
