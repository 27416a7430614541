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

    public static string SessionIdOf(string instanceId) => instanceId[(instanceId.IndexOf(':') + 1)..];
}
