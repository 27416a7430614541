using System.Net;
using AgentSessions.Functions.SessionConsole;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.SessionConsole;

/// <summary>The console's files over HTTP: what is served, with which headers, and nothing else.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ConsoleHttpTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private SessionTestHost host = null!;
    private ApiTestServer server = null!;

    public async Task InitializeAsync()
    {
        host = await SessionTestHost.StartAsync(azurite);
        server = await ApiTestServer.StartAsync(host);
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        await host.DisposeAsync();
    }

    [Theory]
    [InlineData("console/", "text/html")]
    [InlineData("console/app.js", "text/javascript")]
    [InlineData("console/console.css", "text/css")]
    [InlineData("console/vendor/fetch-event-source/index.js", "text/javascript")]
    [InlineData("console/vendor/fetch-event-source/fetch", "text/javascript")] // imported without extension by index.js
    public async Task ConsoleFile_ServedWithItsTypeAndTheStrictHeaders_WithoutAKey(string path, string type)
    {
        using var response = await server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(type, response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(ConsoleFunctions.ContentSecurityPolicy, Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        Assert.True(response.Content.Headers.ContentLength > 0);
        Assert.NotNull(response.Headers.ETag);
    }

    [Fact]
    public async Task ConsoleFile_Revalidated_304WithTheSameETag_HeadHasNoBody()
    {
        using var first = await server.Client.GetAsync("console/app.js");
        using var again = new HttpRequestMessage(HttpMethod.Get, "console/app.js");
        again.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var revalidated = await server.Client.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);

        using var head = await server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "console/app.js"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(first.Content.Headers.ContentLength, head.Content.Headers.ContentLength);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("/console/missing.js")]
    [InlineData("/console/%2e%2e/host.json")]
    [InlineData("/console/..%2fhost.json")]
    [InlineData("/console/vendor/fetch-event-source/LICENSE.js")]
    [InlineData("/console/api")] // extensionless lookup is for vendor modules only
    public async Task AnythingElse_404WithTheErrorBody(string path)
    {
        var answer = await HttpCall.Get(path).SendAsync(server);
        answer.ExpectError(404, "not_found");
        Assert.Empty(server.Unhandled);
    }
}
