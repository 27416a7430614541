using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace AgentSessions.Functions.Http;

/// <summary>Typed query-string parameters, with 422 for a value of the wrong form.</summary>
public static class Query
{
    public static long Long(HttpRequest request, string name, long fallback, long min, long max)
    {
        var raw = request.Query[name].ToString();
        if (string.IsNullOrEmpty(raw))
        {
            return fallback;
        }

        return long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw ApiException.InvalidField(name, $"must be a whole number from {min} to {max}");
    }

    public static bool Bool(HttpRequest request, string name, bool fallback)
    {
        var raw = request.Query[name].ToString();
        return raw.ToLowerInvariant() switch
        {
            "" => fallback,
            "true" or "1" => true,
            "false" or "0" => false,
            _ => throw ApiException.InvalidField(name, "must be true or false"),
        };
    }
}
