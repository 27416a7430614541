using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace AgentSessions.Functions.Http;

/// <summary>Reads a request body as a JSON object, within a size limit.</summary>
public static class JsonBody
{
    /// <summary>
    /// Returns the body's JSON object, or an empty object for an empty body when
    /// <paramref name="allowEmpty"/>; 413 past the limit, 400 when it is not a JSON object.
    /// </summary>
    public static async Task<JsonElement> ReadObjectAsync(HttpRequest request, long maxBytes, bool allowEmpty, CancellationToken cancellationToken)
    {
        if (request.ContentLength is { } declared && declared > maxBytes)
        {
            throw ApiException.BodyTooLarge(maxBytes);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                throw ApiException.BodyTooLarge(maxBytes);
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0 || IsWhitespace(buffer))
        {
            return allowEmpty ? EmptyObject() : throw ApiException.MalformedJson("Request body is empty; a JSON object is required");
        }

        try
        {
            using var document = JsonDocument.Parse(buffer.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.Clone()
                : throw ApiException.MalformedJson("Request body must be a JSON object");
        }
        catch (JsonException exception)
        {
            throw ApiException.MalformedJson($"Request body is not valid JSON: {exception.Message}");
        }
    }

    private static bool IsWhitespace(MemoryStream buffer) =>
        buffer.GetBuffer().AsSpan(0, (int)buffer.Length).IndexOfAnyExcept(" \t\r\n"u8) < 0;

    private static JsonElement EmptyObject()
    {
        using var document = JsonDocument.Parse("{}");
        return document.RootElement.Clone();
    }
}

/// <summary>Typed access to optional fields of a request object, with 422 on a wrong type or range.</summary>
public readonly struct JsonFields(JsonElement body)
{
    public bool Has(string name) => body.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    public string? OptionalString(string name, int minLength, int maxLength)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw ApiException.InvalidField(name, "must be a string");
        }

        string text;
        try
        {
            text = value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // JsonDocument accepts lone surrogate escapes and invalid UTF-8 inside strings; they
            // only fail when read. That is malformed input, not a server fault.
            throw ApiException.MalformedJson($"{name} is not valid Unicode text");
        }

        if (text.Length < minLength || text.Length > maxLength)
        {
            throw ApiException.InvalidField(name, minLength == maxLength
                ? $"must be {minLength} characters"
                : $"must be {minLength} to {maxLength} characters");
        }

        return text;
    }

    public string RequiredString(string name, int minLength, int maxLength) =>
        OptionalString(name, minLength, maxLength) ?? throw ApiException.InvalidField(name, "is required");

    public int? OptionalInt(string name, int min, int max)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var number))
        {
            throw ApiException.InvalidField(name, "must be a whole number");
        }

        return number >= min && number <= max ? (int)number : throw ApiException.InvalidField(name, $"must be between {min} and {max}");
    }

    public Uri? OptionalHttpUrl(string name, int maxLength)
    {
        var text = OptionalString(name, 1, maxLength);
        if (text is null)
        {
            return null;
        }

        return Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" && !string.IsNullOrEmpty(url.Host)
            ? url
            : throw ApiException.InvalidField(name, "must be an absolute http(s) URL");
    }
}
