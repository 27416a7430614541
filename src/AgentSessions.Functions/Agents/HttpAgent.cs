using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Functions.Agents;

/// <summary>
/// An agent served by an HTTP endpoint, one call per step (HTTP-AGENT-PROTOCOL.md beside this file is the contract).
/// Failures are thrown as <see cref="AgentTransientException"/> (worth retrying: see <see cref="AgentRetry"/>) or
/// <see cref="AgentPermanentException"/>; the calls themselves are never retried here.
/// </summary>
public sealed class HttpAgent : IAgent
{
    /// <summary>The named client of <see cref="IHttpClientFactory"/> this agent uses; see <see cref="AgentHttpClientRegistration"/>.</summary>
    public const string HttpClientName = "agents";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Largest step or navigate answer read (the step result travels through orchestration history).</summary>
    public const int MaxStepResponseBytes = 1024 * 1024;

    /// <summary>Largest screenshot answer read: a full-page PNG in base64 can be several megabytes.</summary>
    public const int MaxScreenshotResponseBytes = 16 * 1024 * 1024;

    private const int MaxErrorSnippetChars = 300;

    private static readonly MediaTypeWithQualityHeaderValue AcceptJson = new("application/json");

    private readonly AgentDefinition definition;
    private readonly IHttpClientFactory httpClients;
    private readonly Uri url;

    public HttpAgent(AgentDefinition definition, IHttpClientFactory httpClients)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(httpClients);
        this.definition = definition;
        this.httpClients = httpClients;
        url = definition.Url ?? throw new InvalidOperationException($"Agent '{definition.Name}' is an http agent without a Url.");
        Timeout = definition.Timeout is { } timeout && timeout > TimeSpan.Zero ? timeout : DefaultTimeout;
    }

    /// <summary>How long one call may take, headers and body: <see cref="AgentDefinition.Timeout"/>, or 30 s.</summary>
    public TimeSpan Timeout { get; }

    public async Task<AgentStepResult> ExecuteStepAsync(StepRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = JsonSerializer.SerializeToUtf8Bytes(HttpAgentStepRequest.From(request), HttpAgentJsonContext.Default.HttpAgentStepRequest);
        var (status, answer) = await SendAsync(HttpMethod.Post, url, body, "step", MaxStepResponseBytes, cancellationToken);
        return HttpAgentResponses.ReadStep(definition.Name, status, answer);
    }

    public async Task<AgentNavigation> NavigateAsync(string sessionId, string url, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        ArgumentException.ThrowIfNullOrEmpty(url);
        var body = JsonSerializer.SerializeToUtf8Bytes(new HttpAgentNavigateRequest(sessionId, url), HttpAgentJsonContext.Default.HttpAgentNavigateRequest);
        var (status, answer) = await SendAsync(HttpMethod.Post, Below(this.url, "navigate", null), body, "navigate", MaxStepResponseBytes, cancellationToken);
        return HttpAgentResponses.ReadNavigation(definition.Name, status, answer);
    }

    public async Task<JsonElement> ScreenshotAsync(string sessionId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        var target = Below(url, "screenshot", "session_id=" + Uri.EscapeDataString(sessionId));
        var (status, answer) = await SendAsync(HttpMethod.Get, target, null, "screenshot", MaxScreenshotResponseBytes, cancellationToken);
        return HttpAgentResponses.ReadScreenshot(definition.Name, status, answer);
    }

    /// <summary>
    /// <c>{Url}/segment</c>: the configured URL's path with one more segment, keeping its query (an endpoint key
    /// such as <c>?code=…</c> keeps working) and adding <paramref name="query"/> to it.
    /// </summary>
    internal static Uri Below(Uri baseUrl, string segment, string? query)
    {
        var builder = new UriBuilder(baseUrl) { Fragment = string.Empty };
        builder.Path = builder.Path.TrimEnd('/') + "/" + segment;
        if (query is not null)
        {
            var existing = builder.Query.TrimStart('?');
            builder.Query = existing.Length == 0 ? query : existing + "&" + query;
        }

        return builder.Uri;
    }

    /// <summary>One call, bounded by <see cref="Timeout"/> from sending to the last byte of the answer. Returns a 2xx answer's status and body.</summary>
    private async Task<(int Status, ReadOnlyMemory<byte> Body)> SendAsync(
        HttpMethod method, Uri target, byte[]? body, string call, int maxResponseBytes, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(method, target);
        message.Headers.Accept.Add(AcceptJson);
        if (body is not null)
        {
            message.Content = new ByteArrayContent(body);
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        }

        AddConfiguredHeader(message);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        var client = httpClients.CreateClient(HttpClientName);
        try
        {
            using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                return (status, await ReadBodyAsync(response, call, maxResponseBytes, timeout.Token));
            }

            throw await FailureAsync(response, call, timeout.Token);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AgentTransientException(definition.Name, string.Create(CultureInfo.InvariantCulture,
                $"Agent '{definition.Name}' did not answer the {call} call within {Timeout.TotalSeconds:0.###} s."), null, ex);
        }
        catch (HttpRequestException ex)
        {
            throw new AgentTransientException(definition.Name,
                $"Agent '{definition.Name}' could not be reached for the {call} call: {ex.Message}", null, ex);
        }
        catch (IOException ex)
        {
            throw new AgentTransientException(definition.Name,
                $"Agent '{definition.Name}' broke off its answer to the {call} call: {ex.Message}", null, ex);
        }
    }

    private void AddConfiguredHeader(HttpRequestMessage message)
    {
        if (string.IsNullOrWhiteSpace(definition.HeaderName))
        {
            return;
        }

        var value = definition.HeaderValue ?? string.Empty;
        if (!message.Headers.TryAddWithoutValidation(definition.HeaderName, value)
            && message.Content?.Headers.TryAddWithoutValidation(definition.HeaderName, value) != true)
        {
            throw new AgentPermanentException(definition.Name,
                $"Agent '{definition.Name}' is configured with header '{definition.HeaderName}', which cannot be sent on this request.");
        }
    }

    private async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpResponseMessage response, string call, int maxBytes, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength is > 0 and var length && length > maxBytes)
        {
            throw TooLarge(response, call, maxBytes);
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                throw TooLarge(response, call, maxBytes);
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    private AgentPermanentException TooLarge(HttpResponseMessage response, string call, int maxBytes) =>
        new(definition.Name, string.Create(CultureInfo.InvariantCulture,
            $"Agent '{definition.Name}' returned an invalid {call} response: the body is larger than {maxBytes} bytes."),
            (int)response.StatusCode);

    /// <summary>The exception for a non-2xx answer: 408, 429 and 5xx are transient, everything else permanent.</summary>
    private async Task<AgentCallException> FailureAsync(HttpResponseMessage response, string call, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var what = $"HTTP {status}" + (string.IsNullOrEmpty(response.ReasonPhrase) ? string.Empty : $" ({response.ReasonPhrase})");
        if (status is >= 300 and < 400)
        {
            var location = response.Headers.Location is { } to ? $" to {to.GetLeftPart(UriPartial.Path)}" : string.Empty;
            return new AgentPermanentException(definition.Name,
                $"Agent '{definition.Name}' answered the {call} call with a redirect ({what}){location}; configure the agent's final URL.", status);
        }

        var snippet = await SnippetAsync(response, cancellationToken);
        var text = $"Agent '{definition.Name}' answered the {call} call with {what}" + (snippet.Length > 0 ? $": {snippet}" : ".");
        return status is (int)HttpStatusCode.RequestTimeout or (int)HttpStatusCode.TooManyRequests or >= 500
            ? new AgentTransientException(definition.Name, text, status)
            : new AgentPermanentException(definition.Name, text, status);
    }

    /// <summary>The start of an error answer's body, on one line, to make the error message useful.</summary>
    private static async Task<string> SnippetAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[MaxErrorSnippetChars * 4];
            var filled = 0;
            int read;
            while (filled < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken)) > 0)
            {
                filled += read;
            }

            var text = Encoding.UTF8.GetString(buffer, 0, filled);
            var oneLine = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
            return oneLine.Length <= MaxErrorSnippetChars ? oneLine : string.Concat(oneLine.AsSpan(0, MaxErrorSnippetChars - 3), "...");
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return string.Empty;
        }
    }
}
