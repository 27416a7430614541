using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using AgentSessions.Functions.Http;
using Microsoft.AspNetCore.Http;

namespace AgentSessions.Functions.Auth;

/// <summary>
/// Maps bearer API keys to owners. Keys are held only as SHA-256 digests and compared in constant
/// time against every entry, so neither timing nor a memory dump gives a key away.
/// </summary>
public sealed partial class ApiKeyAuthenticator
{
    public const string SettingName = "SESSIONS_API_KEYS";
    private const string Sha256Prefix = "sha256:";

    private readonly IReadOnlyList<(string Owner, byte[] Digest)> entries;

    private ApiKeyAuthenticator(IReadOnlyList<(string Owner, byte[] Digest)> entries) => this.entries = entries;

    /// <summary>
    /// Parses <c>owner=key;owner=sha256:&lt;hex&gt;</c>. Errors name the setting and the entry's
    /// position, never the key.
    /// </summary>
    public static ApiKeyAuthenticator Parse(string? setting)
    {
        if (string.IsNullOrWhiteSpace(setting))
        {
            throw new InvalidOperationException($"Setting {SettingName} is empty; set it to 'owner=key' entries separated by ';'.");
        }

        var entries = new List<(string, byte[])>();
        var position = 0;
        foreach (var raw in setting.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            position++;
            var separator = raw.IndexOf('=');
            if (separator <= 0 || separator == raw.Length - 1)
            {
                throw new InvalidOperationException($"Setting {SettingName}: entry {position} is not 'owner=key'.");
            }

            var owner = raw[..separator].Trim();
            var key = raw[(separator + 1)..].Trim();
            if (!OwnerName().IsMatch(owner))
            {
                // The owner is not echoed: a key pasted without 'owner=' would otherwise appear here.
                throw new InvalidOperationException(
                    $"Setting {SettingName}: entry {position} has an invalid owner name; owners are 1-64 letters, digits, '-' or '_'.");
            }

            byte[] digest;
            if (key.StartsWith(Sha256Prefix, StringComparison.OrdinalIgnoreCase))
            {
                var hex = key[Sha256Prefix.Length..];
                if (hex.Length != 64 || !IsHex(hex))
                {
                    throw new InvalidOperationException($"Setting {SettingName}: entry {position} has a sha256 digest that is not 64 hex characters.");
                }

                digest = Convert.FromHexString(hex);
            }
            else
            {
                digest = SHA256.HashData(Encoding.UTF8.GetBytes(key));
            }

            entries.Add((owner, digest));
        }

        return entries.Count > 0
            ? new ApiKeyAuthenticator(entries)
            : throw new InvalidOperationException($"Setting {SettingName} has no entries.");
    }

    /// <summary>The owner of the request's bearer key; 401 when it is missing or unknown.</summary>
    public string Authenticate(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || header.Length == scheme.Length)
        {
            throw ApiException.Unauthorized("Missing API key: send 'Authorization: Bearer <api key>'");
        }

        return FindOwner(header[scheme.Length..].Trim()) ?? throw ApiException.Unauthorized("Invalid API key");
    }

    public string? FindOwner(string key)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        string? owner = null;
        foreach (var entry in entries)
        {
            // No early exit: every entry is compared whatever matched.
            if (CryptographicOperations.FixedTimeEquals(digest, entry.Digest))
            {
                owner ??= entry.Owner;
            }
        }

        return owner;
    }

    private static bool IsHex(string text) => text.All(Uri.IsHexDigit);

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex OwnerName();
}
