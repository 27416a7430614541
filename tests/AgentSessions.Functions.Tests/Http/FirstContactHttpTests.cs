using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using AgentSessions.Functions.Events;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Tests.Http;

/// <summary>
/// What every HTTP client meets first, over a real connection to <see cref="ApiTestServer"/>: the first bytes of an
/// event stream, routes and methods no function serves, header values that are not ASCII, and the messages page limit.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class FirstContactHttpTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private SessionTestHost host = null!;
    private ApiTestServer server = null!;
    private SessionsApi alice = null!;

    public async Task InitializeAsync()
    {
        host = await SessionTestHost.StartAsync(azurite);
        server = await ApiTestServer.StartAsync(host, new ApiTestServerOptions { Azurite = azurite });
        alice = SessionsApi.Alice(host, server);
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        await host.DisposeAsync();
    }

    public static TheoryData<string> NothingToReplay() => new() { "", "?after_id=999", "?include_history=false" };

    [Theory]
    [MemberData(nameof(NothingToReplay))]
    public async Task EventStream_WithNothingToReplay_SendsItsFirstBytesAtOnce(string query)
    {
        var id = await alice.CreateIdAsync(); // ready: no task, nothing stored
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v1/sessions/{id}/events{query}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SessionTestHost.AliceKey);
        request.Headers.Accept.ParseAdd("text/event-stream");

        var clock = Stopwatch.StartNew();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        using var response = await server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(deadline.Token));
        var first = await reader.ReadLineAsync(deadline.Token);

        // Body bytes, not only headers: the Functions host forwards the status line only once the body starts.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"first bytes after {clock.Elapsed}");
        Assert.Equal(": " + EventStreamResult.OpenedComment, first);
        Assert.Empty(server.Unhandled);
    }

    [Theory]
    [InlineData("GET", "/v1/nope")]
    [InlineData("POST", "/v1/sessions/00000000-0000-0000-0000-000000000000/nope")]
    [InlineData("GET", "/nothing/here")]
    [InlineData("DELETE", "/v1")]
    public async Task UnknownRoute_404WithTheErrorBody(string method, string path)
    {
        var answer = await new HttpCall(method, path).Bearer(SessionTestHost.AliceKey).SendAsync(server);
        answer.ExpectError(404, "not_found");
        Assert.Contains(path, answer.String("message"), StringComparison.Ordinal);
        Assert.Empty(server.Unhandled);
    }

    [Theory]
    [InlineData("PATCH", "/v1/sessions", "DELETE, GET, POST")]
    [InlineData("PUT", "/v1/sessions/00000000-0000-0000-0000-000000000000", "DELETE, GET")]
    [InlineData("GET", "/v1/sessions/00000000-0000-0000-0000-000000000000/pause", "POST")]
    [InlineData("DELETE", "/v1/health", "GET")]
    [InlineData("POST", "/console/", "GET, HEAD")]
    public async Task KnownPath_WrongMethod_405WithAllowAndTheErrorBody(string method, string path, string allow)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path.TrimStart('/'));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SessionTestHost.AliceKey);
        using var response = await server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(allow, string.Join(", ", response.Content.Headers.Allow));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("method_not_allowed", body.GetProperty("error").GetString());
        Assert.Equal(body.GetProperty("message").GetString(), body.GetProperty("detail").GetString());
        Assert.Empty(server.Unhandled);
    }

    [Fact]
    public async Task Options_OnAKnownPath_204WithAllow()
    {
        using var response = await server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Options, "v1/sessions"));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("DELETE, GET, POST", string.Join(", ", response.Content.Headers.Allow));
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/console")]
    public async Task Root_And_ConsoleWithoutSlash_RedirectToTheConsole(string path)
    {
        using var response = await server.Client.GetAsync(path.TrimStart('/') is { Length: > 0 } p ? p : "/");
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("/console/", response.Headers.Location!.OriginalString);
    }

    /// <summary>One request written byte for byte, so header values can be any bytes (HttpClient only sends ASCII).</summary>
    private async Task<(int Status, string Head, string Body)> RawAsync(string method, string target, params byte[][] headerLines)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, server.BaseAddress.Port);
        var stream = client.GetStream();
        var request = new MemoryStream();
        request.Write(Encoding.ASCII.GetBytes($"{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n"));
        request.Write(Encoding.ASCII.GetBytes($"Authorization: Bearer {SessionTestHost.AliceKey}\r\n"));
        foreach (var line in headerLines)
        {
            request.Write(line);
            request.Write("\r\n"u8);
        }

        request.Write("\r\n"u8);
        await stream.WriteAsync(request.ToArray());
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(deadline.Token);
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = split < 0 ? text : text[..split];
        var status = int.Parse(head.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var body = split < 0 ? string.Empty : text[(split + 4)..];
        return (status, head, head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase) ? Dechunk(body) : body);
    }

    private static string Dechunk(string chunked)
    {
        var body = new StringBuilder();
        var rest = chunked.AsSpan();
        while (rest.IndexOf("\r\n") is var end and > 0)
        {
            var size = int.Parse(rest[..end], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
            if (size == 0)
            {
                break;
            }

            // Sizes count bytes; these bodies are JSON written by the app, ASCII but for escapes.
            body.Append(rest.Slice(end + 2, size));
            rest = rest[(end + 2 + size + 2)..];
        }

        return body.ToString();
    }

    private static byte[] Header(string name, byte[] value) => [.. Encoding.ASCII.GetBytes(name + ": "), .. value];

    public static TheoryData<string, string> NonAsciiValues() => new()
    {
        { "utf-8 é", "c3a9" },
        { "utf-8 emoji", "f09f9880" },
        { "latin-1 é (not utf-8)", "e9" },
    };

    [Theory]
    [MemberData(nameof(NonAsciiValues))]
    public async Task NonAsciiHeaderValue_ReachesTheFunctions_HealthAnswersAtOnce(string what, string hex)
    {
        var clock = Stopwatch.StartNew();
        var (status, head, body) = await RawAsync("GET", "/v1/health", Header("X-Note", Convert.FromHexString(hex)));
        Assert.True(status == 200, $"{what}: {head}\n{body}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{what}: answered after {clock.Elapsed}");
        Assert.Equal("healthy", JsonDocument.Parse(body).RootElement.GetProperty("status").GetString());
    }

    [Theory]
    [MemberData(nameof(NonAsciiValues))]
    public async Task NonAsciiIdempotencyKey_422WithTheErrorBody(string what, string hex)
    {
        var (status, head, body) = await RawAsync("POST", "/v1/sessions", Header("Idempotency-Key", [.. "key-"u8, .. Convert.FromHexString(hex)]));
        Assert.True(status == 422, $"{what}: {head}\n{body}");
        var json = JsonDocument.Parse(body).RootElement;
        Assert.Equal("validation_error", json.GetProperty("error").GetString());
        Assert.Contains("Idempotency-Key", json.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Empty(server.Unhandled);
    }

    /// <summary>
    /// The control for the two tests above: Kestrel without the app's <see cref="RequestHeaderEncoding"/> answers a
    /// non-UTF-8 header byte with a bare 400 before any function runs, which under the Functions host means the
    /// invocation waits 15 s for a request that never arrives and fails with an empty 500.
    /// </summary>
    [Fact]
    public async Task KestrelDefaults_RejectANonUtf8HeaderByte_WhichTheAppsEncodingAccepts()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        await using var plain = builder.Build();
        plain.MapGet("/", () => "ok");
        await plain.StartAsync();
        var port = new Uri(plain.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()).Port;

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.GetStream().WriteAsync((byte[])[.. "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Note: "u8, 0xE9, .. "\r\n\r\n"u8]);
        using var reader = new StreamReader(client.GetStream());
        var statusLine = await reader.ReadLineAsync();
        Assert.StartsWith("HTTP/1.1 400", statusLine, StringComparison.Ordinal);
        await plain.StopAsync();
    }

    /// <summary>
    /// The host side of the non-ASCII hang, out of the app's reach: the Functions host forwards each request to the
    /// worker with a default <see cref="SocketsHttpHandler"/> (no RequestHeaderEncodingSelector), which refuses to
    /// send a non-ASCII header value at all. Pinned here so a runtime that changes this is noticed (README, "Request headers").
    /// </summary>
    [Fact]
    public async Task HostForwarding_DefaultSocketsHandler_RefusesToSendANonAsciiHeaderValue()
    {
        using var forwarder = new HttpMessageInvoker(new SocketsHttpHandler());
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.BaseAddress, "v1/health"));
        request.Headers.TryAddWithoutValidation("X-Note", "é");
        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => forwarder.SendAsync(request, CancellationToken.None));
        Assert.Contains("ASCII", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0", 422)]
    [InlineData("1", 200)]
    [InlineData("100000", 200)]
    [InlineData("100001", 422)]
    [InlineData("lots", 422)]
    public async Task MessagesLimit_IsOneTo100000(string limit, int expected)
    {
        Assert.Equal(100_000, MessageFunctions.MaxPageSize); // what README.md and openapi.json say
        var id = await alice.CreateIdAsync(SessionsApi.ShortGoal);
        var answer = await alice.MessagesAsync(id, ("limit", limit));
        Assert.True(answer.Status == expected, answer.ToString());
        if (expected == 422)
        {
            answer.ExpectError(422, "validation_error");
        }
    }
}
